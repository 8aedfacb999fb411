"""Shared vocabulary, config and pure helpers: the bottom layer, importing nothing else of ours."""
