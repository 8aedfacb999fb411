"""The DuckDB store and its schema: one writer thread, read cursors; above core only."""
