"""Shared pytest fixtures for the web tests."""
