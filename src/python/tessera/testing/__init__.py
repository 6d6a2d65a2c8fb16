"""Test support shared by every service: pytest fixtures for the real servers (see fixtures.py)."""
