"""Fixtures for the cross-service tests under tests/."""

from tessera.testing.fixtures import *  # noqa: F403 - the fixtures must be names in this module
