"""The composition root: builds and starts everything; only run.py, bench and tests import it."""
