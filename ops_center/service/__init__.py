"""The write path and the incident service: pipeline, batches, lifecycle actions, SLA sweep, bus."""
