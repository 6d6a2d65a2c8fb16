"""Which document store errors are outages to wait out, and which are answers (pure: no server)."""

from __future__ import annotations

import pytest
from pymongo.errors import (
    AutoReconnect,
    BulkWriteError,
    DuplicateKeyError,
    NetworkTimeout,
    OperationFailure,
    ServerSelectionTimeoutError,
)

from tessera.kit.documents import is_outage


@pytest.mark.parametrize(
    "error",
    [
        ServerSelectionTimeoutError("no server"),
        AutoReconnect("connection reset"),
        NetworkTimeout("timed out"),
        OperationFailure("backend away", code=1),  # FerretDB while its PostgreSQL restarts
        OperationFailure("shutting down", code=91),
    ],
)
def test_the_store_away_is_an_outage(error: BaseException) -> None:
    assert is_outage(error)


@pytest.mark.parametrize(
    "error",
    [
        OperationFailure("bad value", code=2),
        DuplicateKeyError("E11000", code=11000),
        BulkWriteError({"writeErrors": [{"index": 0, "code": 1}], "nInserted": 0}),  # an answer per write
        ValueError("a bug"),
    ],
)
def test_an_answer_or_a_bug_is_not_an_outage(error: BaseException) -> None:
    assert not is_outage(error)
