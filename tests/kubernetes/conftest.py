"""The cluster fixture: see tessera.testing.cluster."""

from tessera.testing.cluster import shop  # noqa: F401 - a fixture must be a name in this module
