"""Shared pytest fixtures for the mqtt tests."""
