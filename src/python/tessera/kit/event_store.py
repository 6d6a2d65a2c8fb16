"""An append-only event store in Postgres, for event-sourced aggregates.

Each aggregate is one stream of events.v1.EventEnvelope. `append` takes the version the caller's decision was
based on; if another writer appended meanwhile, the (stream_id, version) key collides and ConcurrencyConflict is
raised, so the caller reloads and decides again. Use it inside a unit of work, so the same transaction also puts
the events in the outbox.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Generic, Protocol, TypeVar

import asyncpg
from google.protobuf.message import Message

from events.v1 import envelope_pb2
from tessera.kit.db import Connection
from tessera.kit.errors import ConcurrencyConflict
from tessera.kit.events import make_envelope, parse
from tessera.kit.uow import PostgresUnitOfWork

__all__ = ["ConcurrencyConflict", "EventSourcedRepository", "EventStore", "PostgresEventStore"]

AggregateT = TypeVar("AggregateT")
EventT = TypeVar("EventT")


def check_versions(expected_version: int, envelopes: Sequence[envelope_pb2.EventEnvelope]) -> None:
    """Envelopes to append after `expected_version` must run expected_version+1, +2, ..."""
    for offset, envelope in enumerate(envelopes, start=1):
        if envelope.aggregate_version != expected_version + offset:
            raise ValueError(f"envelope {envelope.event_id} has version {envelope.aggregate_version}")


class PostgresEventStore:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def load(self, stream_id: str) -> list[envelope_pb2.EventEnvelope]:
        rows = await self._conn.fetch(
            "SELECT envelope FROM event_store WHERE stream_id = $1 ORDER BY version", stream_id
        )
        return [parse(bytes(row["envelope"])) for row in rows]

    async def append(
        self, stream_id: str, expected_version: int, envelopes: Sequence[envelope_pb2.EventEnvelope]
    ) -> None:
        check_versions(expected_version, envelopes)
        try:
            await self._conn.executemany(
                "INSERT INTO event_store (stream_id, version, event_id, event_type, envelope) "
                "VALUES ($1, $2, $3, $4, $5)",
                [(stream_id, e.aggregate_version, e.event_id, e.event_type, e.SerializeToString()) for e in envelopes],
            )
        except asyncpg.UniqueViolationError:
            raise ConcurrencyConflict(f"stream {stream_id} moved past version {expected_version} meanwhile") from None


class EventStore(Protocol):
    """Streams of envelopes; `PostgresEventStore`, or tessera.testing's in-memory one for use-case tests."""

    async def load(self, stream_id: str) -> list[envelope_pb2.EventEnvelope]: ...

    async def append(
        self, stream_id: str, expected_version: int, envelopes: Sequence[envelope_pb2.EventEnvelope]
    ) -> None: ...


class EventSourcedRepository(Generic[AggregateT, EventT]):
    """Event-sourced aggregates of one type in a unit of work's transaction.

    `load` folds a stream into the aggregate: `start(stream_id)`, then `evolve(state, event, recorded_at)` for each
    event `decode`d from its envelope. `append` writes new events after the version the decision was based on
    (ConcurrencyConflict if the stream moved meanwhile) and hands their envelopes to the unit of work's outbox,
    so they are stored and published together, or neither.
    """

    def __init__(
        self,
        store: EventStore,
        aggregate_type: str,
        *,
        service: str,
        to_message: Callable[[EventT], Message],
        record_envelope: Callable[[envelope_pb2.EventEnvelope], None],
        start: Callable[[str], AggregateT],
        evolve: Callable[[AggregateT, EventT, datetime], AggregateT],
        decode: Callable[[envelope_pb2.EventEnvelope], tuple[EventT, datetime]],
    ) -> None:
        self._store, self.aggregate_type = store, aggregate_type
        self._service, self._to_message, self._record_envelope = service, to_message, record_envelope
        self._start, self._evolve, self._decode = start, evolve, decode

    @classmethod
    def in_unit_of_work(
        cls,
        uow: PostgresUnitOfWork,
        aggregate_type: str,
        *,
        start: Callable[[str], AggregateT],
        evolve: Callable[[AggregateT, EventT, datetime], AggregateT],
        decode: Callable[[envelope_pb2.EventEnvelope], tuple[EventT, datetime]],
    ) -> EventSourcedRepository[AggregateT, EventT]:
        """On the unit of work's connection, its appended events to its outbox."""
        return cls(
            PostgresEventStore(uow.conn),
            aggregate_type,
            service=uow.service,
            to_message=uow.to_message,
            record_envelope=uow.record_envelope,
            start=start,
            evolve=evolve,
            decode=decode,
        )

    async def load(self, stream_id: str) -> AggregateT | None:
        """The aggregate as its events made it; None if it has no stream."""
        stream = await self._store.load(stream_id)
        return self.fold(self._start(stream_id), stream) if stream else None

    async def history(self, stream_id: str) -> list[envelope_pb2.EventEnvelope]:
        """The stream as stored: the audit trail."""
        return await self._store.load(stream_id)

    def fold(self, state: AggregateT, envelopes: Sequence[envelope_pb2.EventEnvelope]) -> AggregateT:
        for envelope in envelopes:
            state = self._evolve(state, *self._decode(envelope))
        return state

    async def append(self, state: AggregateT, stream_id: str, version: int, events: Sequence[EventT]) -> AggregateT:
        """Appends `events` after `version` (the state's); returns the state after them."""
        envelopes = [self._envelope(stream_id, version + offset, event) for offset, event in enumerate(events, 1)]
        await self._store.append(stream_id, version, envelopes)
        for envelope, event in zip(envelopes, events, strict=True):
            self._record_envelope(envelope)
            state = self._evolve(state, event, envelope.occurred_at.ToDatetime(tzinfo=UTC))
        return state

    def _envelope(self, stream_id: str, version: int, event: EventT) -> envelope_pb2.EventEnvelope:
        return make_envelope(
            self._to_message(event),
            aggregate_type=self.aggregate_type,
            aggregate_id=stream_id,
            aggregate_version=version,
            producer=self._service,
            correlation_id=stream_id,
        )
