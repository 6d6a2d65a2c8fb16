"""The cluster fixture (see tessera.testing.cluster), the tests of the session's mode, and Flagger switched off
again after a test that used it."""

from collections.abc import AsyncIterator

import pytest

from tessera.testing.canary import unflag
from tessera.testing.cluster import Shop, session_runs_the_mesh, shop  # noqa: F401 - a fixture must be a name here


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Leave out the tests of the other mode (deselected, not skipped: CI fails on any skip, and a test of the
    mode CI does not run is not one that should have run)."""
    other_mode = "no_mesh" if session_runs_the_mesh() else "mesh"
    left_out = [item for item in items if item.get_closest_marker(other_mode)]
    if left_out:
        config.hook.pytest_deselected(items=left_out)
        items[:] = [item for item in items if not item.get_closest_marker(other_mode)]


@pytest.fixture
async def flagger_reverted(shop: Shop) -> AsyncIterator[None]:  # noqa: F811 - the fixture above
    """The release without Flagger after the test, whatever its outcome: the next test starts from the session's
    release, not from a primary copy and a half-analysed canary."""
    yield
    await unflag(shop)
