"""Contract tests of a service's ports: one suite, run on the in-memory fakes and on the Postgres adapters.

A service's contract test parametrizes a fixture over `fake_port(...)` and `postgres_port(...)` and writes its
tests against `Port`: they open units of work, use the repositories, commit or not, and read what was published.
A fake that drifts from the real adapter then fails the same test the adapter passes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from google.protobuf.message import Message

from tessera.kit import db, outbox
from tessera.kit.events import parse
from tessera.kit.uow import PostgresUnitOfWork
from tessera.testing.fakes import FakeUnitOfWork

TOPIC = "contract.events"


@dataclass
class Port:
    """A unit-of-work factory over one implementation, and what it has published so far."""

    name: str
    uow: Callable[[], Any]
    # (aggregate type, aggregate id, aggregate version) of every event published, in order
    published: Callable[[], Awaitable[list[tuple[str, str, int]]]]


def fake_port(**repositories: Any) -> Port:
    events: list[Any] = []

    async def published() -> list[tuple[str, str, int]]:
        return [(e.aggregate_type, e.aggregate_id, e.aggregate_version) for e in events]

    return Port("fake", lambda: FakeUnitOfWork(events, **repositories), published)


@asynccontextmanager
async def postgres_port(
    dsn: str, migrations: ModuleType, uow_type: type[PostgresUnitOfWork], to_message: Callable[[Any], Message]
) -> AsyncIterator[Port]:
    """The service's Postgres unit of work on a migrated database at `dsn`; its outbox is what it published."""
    pool = await db.create_pool(dsn)
    try:
        await db.apply_migrations(pool, outbox.KIT_MIGRATIONS, migrations.__name__)

        async def published() -> list[tuple[str, str, int]]:
            rows = await pool.fetch("SELECT payload FROM outbox WHERE topic = $1 ORDER BY id", TOPIC)
            envelopes = [parse(bytes(row["payload"])) for row in rows]
            return [(e.aggregate_type, e.aggregate_id, e.aggregate_version) for e in envelopes]

        yield Port(
            "postgres", lambda: uow_type(pool, topic=TOPIC, service="contract", to_message=to_message), published
        )
    finally:
        await pool.close()
