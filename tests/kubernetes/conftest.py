"""The cluster fixture (see tessera.testing.cluster), and Flagger switched off again after a test that used it."""

from collections.abc import AsyncIterator

import pytest

from tessera.testing.canary import unflag
from tessera.testing.cluster import Shop, shop  # noqa: F401 - a fixture must be a name in this module


@pytest.fixture
async def flagger_reverted(shop: Shop) -> AsyncIterator[None]:  # noqa: F811 - the fixture above
    """The release without Flagger after the test, whatever its outcome: the next test starts from the session's
    release, not from a primary copy and a half-analysed canary."""
    yield
    await unflag(shop)
