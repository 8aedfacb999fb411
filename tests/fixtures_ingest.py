"""Shared pytest fixtures for the ingest tests."""
