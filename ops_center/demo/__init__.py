"""Synthetic history for the demo site and the benches."""
