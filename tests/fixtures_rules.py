"""Shared pytest fixtures for the rules tests."""
