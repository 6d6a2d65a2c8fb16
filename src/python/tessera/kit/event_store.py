"""An append-only event store in Postgres, for event-sourced aggregates.

Each aggregate is one stream of events.v1.EventEnvelope. `append` takes the version the caller's decision was
based on; if another writer appended meanwhile, the (stream_id, version) key collides and ConcurrencyConflict is
raised, so the caller reloads and decides again. Use it inside a unit of work, so the same transaction also puts
the events in the outbox.
"""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from events.v1 import envelope_pb2
from tessera.kit.db import Connection
from tessera.kit.errors import ConcurrencyConflict
from tessera.kit.events import parse

__all__ = ["ConcurrencyConflict", "PostgresEventStore"]


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
        """Appends envelopes whose aggregate_version runs expected_version+1, +2, ..."""
        for offset, envelope in enumerate(envelopes, start=1):
            if envelope.aggregate_version != expected_version + offset:
                raise ValueError(f"envelope {envelope.event_id} has version {envelope.aggregate_version}")
        try:
            await self._conn.executemany(
                "INSERT INTO event_store (stream_id, version, event_id, event_type, envelope) "
                "VALUES ($1, $2, $3, $4, $5)",
                [(stream_id, e.aggregate_version, e.event_id, e.event_type, e.SerializeToString()) for e in envelopes],
            )
        except asyncpg.UniqueViolationError:
            raise ConcurrencyConflict(f"stream {stream_id} moved past version {expected_version} meanwhile") from None
