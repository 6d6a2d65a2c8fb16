"""Fixtures for every test under src/python/tessera."""

from tessera.testing.fixtures import *  # noqa: F403 - the fixtures must be names in this module
