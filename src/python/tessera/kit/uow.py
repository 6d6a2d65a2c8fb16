"""The Postgres unit of work every service builds on: one transaction for state changes and their events.

A service subclasses it: `_open` builds its repositories on the transaction's connection, `_envelope` turns a
domain event into an events.v1.EventEnvelope. Events recorded with `record` are written to the outbox just before
commit, so they are published if and only if the change commits.
"""

from __future__ import annotations

from types import TracebackType
from typing import Generic, Self, TypeVar

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from events.v1 import envelope_pb2
from tessera.kit import outbox

EventT = TypeVar("EventT")


class PostgresUnitOfWork(Generic[EventT]):
    def __init__(self, pool: asyncpg.Pool, *, topic: str, producer: str) -> None:
        self._pool = pool
        self.topic = topic
        self.producer = producer
        self._events: list[EventT] = []

    def _open(self, conn: PoolConnectionProxy) -> None:
        """Sets up the service's repositories on `conn`."""

    def _envelope(self, event: EventT) -> envelope_pb2.EventEnvelope:
        raise NotImplementedError

    def record(self, event: EventT) -> None:
        self._events.append(event)

    async def __aenter__(self) -> Self:
        self.conn: PoolConnectionProxy = await self._pool.acquire()
        self._tx = self.conn.transaction()
        await self._tx.start()
        self._open(self.conn)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            if exc_type is None:
                await outbox.enqueue(self.conn, self.topic, *(self._envelope(e) for e in self._events))
                await self._tx.commit()
            else:
                await self._tx.rollback()
        finally:
            self._events.clear()
            await self._pool.release(self.conn)
