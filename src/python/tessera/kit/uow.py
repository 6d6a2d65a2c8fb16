"""The unit of work: one transaction for state changes and the events they cause, committed explicitly.

Use cases write against the `UnitOfWork` port (a service's own port adds its repositories to it):

    async with self._uow() as uow:
        ...change state, uow.record(event)...
        await uow.commit()

Leaving the block without `commit()` rolls back, so a use case that returns early or raises changes nothing.
Domain events say which aggregate they changed (`AggregateEvent`), so the kit builds their envelopes and outbox
rows itself: a service's Postgres unit of work only names its repositories and how an event becomes a message.
"""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType
from typing import Any, Protocol, Self

import asyncpg
from asyncpg.pool import PoolConnectionProxy
from google.protobuf.message import Message

from events.v1 import envelope_pb2
from tessera.kit import outbox
from tessera.kit.events import make_envelope


class AggregateEvent(Protocol):
    """A domain event as the kit publishes it: the aggregate it changed and that aggregate's version after it.
    An event may also carry a `correlation_id` (e.g. the order a stock change was for)."""

    @property
    def aggregate_type(self) -> str: ...

    @property
    def aggregate_id(self) -> str: ...

    @property
    def aggregate_version(self) -> int: ...


class UnitOfWork(Protocol):
    """The port every use case writes against; a service's port adds its repositories."""

    def record(self, event: Any) -> None:
        """Publishes `event` (an AggregateEvent) if, and only if, the transaction commits."""

    async def commit(self) -> None: ...

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...


class PostgresUnitOfWork:
    """A transaction on the service's database whose recorded events go to its outbox (topic `topic`) on commit.

    A service subclasses it to open its repositories (`_open`) and passes `to_message`: its adapter from a domain
    event to the protobuf message it is published as.
    """

    def __init__(self, pool: asyncpg.Pool, *, topic: str, service: str, to_message: Callable[[Any], Message]) -> None:
        self._pool = pool
        self.topic = topic
        self.service = service  # the service whose events these are (the envelopes' `producer`)
        self.to_message = to_message
        self._envelopes: list[envelope_pb2.EventEnvelope] = []
        self._committed = False

    def _open(self, conn: PoolConnectionProxy) -> None:
        """Sets up the service's repositories on `conn`."""

    def envelope(self, event: Any, *, version: int | None = None) -> envelope_pb2.EventEnvelope:
        """`event` in the common envelope; `version` overrides the event's own (an event-sourced stream's)."""
        return make_envelope(
            self.to_message(event),
            aggregate_type=event.aggregate_type,
            aggregate_id=event.aggregate_id,
            aggregate_version=event.aggregate_version if version is None else version,
            producer=self.service,
            correlation_id=getattr(event, "correlation_id", ""),
        )

    def record(self, event: Any) -> None:
        self._envelopes.append(self.envelope(event))

    def record_envelope(self, envelope: envelope_pb2.EventEnvelope) -> None:
        """Like `record`, for an envelope built already (an event store's): to the outbox on commit."""
        self._envelopes.append(envelope)

    async def commit(self) -> None:
        await outbox.enqueue(self.conn, self.topic, *self._envelopes)
        await self._tx.commit()
        self._committed = True

    async def __aenter__(self) -> Self:
        self.conn: PoolConnectionProxy = await self._pool.acquire()
        self._tx = self.conn.transaction()
        await self._tx.start()
        self._committed = False
        self._open(self.conn)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            if not self._committed:
                await self._tx.rollback()
        finally:
            self._envelopes.clear()
            await self._pool.release(self.conn)
