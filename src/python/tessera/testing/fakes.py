"""In-memory fakes of the kit's ports, for use-case tests (pure logic: no servers).

A service's tests give `FakeUnitOfWork` their in-memory repositories; it behaves as the Postgres unit of work
does: events recorded are published on `commit()`, and leaving the block without it puts every repository back
as it was (a deep copy of its state taken on entry).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from types import TracebackType
from typing import Any, Self

from events.v1 import envelope_pb2
from tessera.kit.errors import ConcurrencyConflict
from tessera.kit.event_store import check_versions


class FakeUnitOfWork:
    def __init__(self, published: list[Any], **repositories: Any) -> None:
        self.published = published  # shared by the unit-of-work instances of one test: every committed event
        self._repositories = repositories
        for name, repository in repositories.items():
            setattr(self, name, repository)
        self._events: list[Any] = []
        self._committed = False
        self._saved: dict[str, dict[str, Any]] = {}

    async def __aenter__(self) -> Self:
        self._saved = {name: copy.deepcopy(vars(repo)) for name, repo in self._repositories.items()}
        self._events, self._committed = [], False
        return self

    def record(self, event: Any) -> None:
        self._events.append(event)

    async def savepoint(self) -> FakeSavepoint:
        """A nested scope (a SAVEPOINT in Postgres): its rollback undoes only what happened since."""
        return FakeSavepoint(self._repositories)

    async def commit(self) -> None:
        self.published.extend(self._events)
        self._events, self._committed = [], True

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if not self._committed:
            for name, state in self._saved.items():
                vars(self._repositories[name]).clear()
                vars(self._repositories[name]).update(state)
        self._events = []


class FakeSavepoint:
    def __init__(self, repositories: dict[str, Any]) -> None:
        self._repositories = repositories
        self._saved = {name: copy.deepcopy(vars(repo)) for name, repo in repositories.items()}

    async def rollback(self) -> None:
        for name, state in self._saved.items():
            vars(self._repositories[name]).clear()
            vars(self._repositories[name]).update(state)

    async def release(self) -> None:
        self._saved = {}


class InMemoryEventStore:
    """The kit's event store in memory (EventStore): streams of envelopes, optimistic like Postgres. What it
    holds is what the Postgres store would also have put in the outbox: `appended`, in order."""

    def __init__(self) -> None:
        self.streams: dict[str, list[envelope_pb2.EventEnvelope]] = {}
        self.appended: list[envelope_pb2.EventEnvelope] = []

    async def load(self, stream_id: str) -> list[envelope_pb2.EventEnvelope]:
        return list(self.streams.get(stream_id, []))

    async def append(
        self, stream_id: str, expected_version: int, envelopes: Sequence[envelope_pb2.EventEnvelope]
    ) -> None:
        check_versions(expected_version, envelopes)
        stream = self.streams.setdefault(stream_id, [])
        if any(e.aggregate_version > expected_version for e in stream):  # Postgres: its (stream, version) key
            raise ConcurrencyConflict(f"stream {stream_id} moved past version {expected_version} meanwhile")
        stream.extend(envelopes)
        self.appended.extend(envelopes)
