"""The kit's unit of work and event-sourced repository on a real PostgreSQL: explicit commit, rollback by
default, envelopes built from the events' own aggregate fields, and streams folded back."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import datetime

import asyncpg
import pytest
from asyncpg.pool import PoolConnectionProxy
from google.protobuf import wrappers_pb2

from events.v1 import envelope_pb2
from tessera.kit import db, outbox
from tessera.kit.errors import ConcurrencyConflict
from tessera.kit.event_store import EventSourcedRepository
from tessera.kit.events import parse, unpack
from tessera.kit.uow import PostgresUnitOfWork

pytestmark = pytest.mark.integration


@dataclass(frozen=True)
class Renamed:
    """A domain event of a counter named `name`, now at `version`."""

    name: str
    version: int
    aggregate_type = "counter"

    @property
    def aggregate_id(self) -> str:
        return self.name

    @property
    def aggregate_version(self) -> int:
        return self.version


def to_message(event: Renamed) -> wrappers_pb2.StringValue:
    return wrappers_pb2.StringValue(value=event.name)


@dataclass(frozen=True)
class Counter:
    name: str
    version: int = 0
    total: int = 0


def evolve(counter: Counter, event: wrappers_pb2.Int64Value, at: datetime) -> Counter:
    return replace(counter, version=counter.version + 1, total=counter.total + event.value)


def decode(envelope: envelope_pb2.EventEnvelope) -> tuple[wrappers_pb2.Int64Value, datetime]:
    return unpack(envelope, wrappers_pb2.Int64Value), envelope.occurred_at.ToDatetime()


class CountersUnitOfWork(PostgresUnitOfWork):
    def _open(self, conn: PoolConnectionProxy) -> None:
        self.counters = EventSourcedRepository[Counter, wrappers_pb2.Int64Value].in_unit_of_work(
            self, "counter", start=Counter, evolve=evolve, decode=decode
        )


@pytest.fixture
async def pool(postgres_dsn: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await db.create_pool(postgres_dsn)
    await db.apply_migrations(pool, outbox.KIT_MIGRATIONS)
    yield pool
    await pool.close()


async def _outbox(pool: asyncpg.Pool, topic: str) -> list[envelope_pb2.EventEnvelope]:
    rows = await pool.fetch("SELECT payload FROM outbox WHERE topic = $1 ORDER BY id", topic)
    return [parse(bytes(row["payload"])) for row in rows]


async def test_nothing_is_written_or_published_without_commit(pool: asyncpg.Pool) -> None:
    async with PostgresUnitOfWork(pool, topic="t.no-commit", service="test", to_message=to_message) as uow:
        await uow.conn.execute("CREATE TABLE IF NOT EXISTS uow_notes (name text PRIMARY KEY)")
        await uow.conn.execute("INSERT INTO uow_notes VALUES ('left')")
        uow.record(Renamed("left", 1))
    assert await pool.fetchval("SELECT to_regclass('uow_notes')") is None  # the table too: one transaction
    assert await _outbox(pool, "t.no-commit") == []


async def test_commit_writes_the_change_and_its_events_built_from_the_events_aggregate(pool: asyncpg.Pool) -> None:
    async with PostgresUnitOfWork(pool, topic="t.commit", service="test", to_message=to_message) as uow:
        await uow.conn.execute("CREATE TABLE uow_kept (name text PRIMARY KEY)")
        await uow.conn.execute("INSERT INTO uow_kept VALUES ('kept')")
        uow.record(Renamed("kept", 7))
        await uow.commit()
    assert await pool.fetchval("SELECT name FROM uow_kept") == "kept"
    (envelope,) = await _outbox(pool, "t.commit")
    assert (envelope.aggregate_type, envelope.aggregate_id, envelope.aggregate_version) == ("counter", "kept", 7)
    assert (envelope.producer, unpack(envelope, wrappers_pb2.StringValue).value) == ("test", "kept")


async def test_an_event_sourced_stream_appends_folds_and_refuses_a_stale_version(pool: asyncpg.Pool) -> None:
    def uow() -> CountersUnitOfWork:
        return CountersUnitOfWork(pool, topic="t.counters", service="test", to_message=lambda event: event)

    async with uow() as first:
        assert await first.counters.load("c-1") is None
        counter = await first.counters.append(
            Counter("c-1"), "c-1", 0, [wrappers_pb2.Int64Value(value=v) for v in (2, 3)]
        )
        await first.commit()
    assert (counter.version, counter.total) == (2, 5)
    async with uow() as second:
        assert await second.counters.load("c-1") == counter
        with pytest.raises(ConcurrencyConflict):
            await second.counters.append(Counter("c-1"), "c-1", 0, [wrappers_pb2.Int64Value(value=1)])
    published = await _outbox(pool, "t.counters")
    assert [(e.aggregate_id, e.aggregate_version) for e in published] == [("c-1", 1), ("c-1", 2)]
