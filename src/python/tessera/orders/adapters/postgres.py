"""The event-sourced order repository on the kit's event store, and the orders' unit of work."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC

from asyncpg.pool import PoolConnectionProxy

from events.v1 import envelope_pb2
from tessera.kit import uow as kit_uow
from tessera.kit.db import Connection
from tessera.kit.event_store import PostgresEventStore
from tessera.kit.events import make_envelope
from tessera.orders import domain
from tessera.orders.adapters.messages import event_from_envelope, event_to_proto


class EventSourcedOrderRepository:
    def __init__(self, conn: Connection, uow: PostgresUnitOfWork) -> None:
        self._conn = conn
        self._store = PostgresEventStore(conn)
        self._uow = uow

    async def get(self, order_id: str) -> domain.Order | None:
        stream = await self._store.load(order_id)
        if not stream:
            return None
        return domain.Order.replay(order_id, [event_from_envelope(e) for e in stream])

    async def history(self, order_id: str) -> Sequence[envelope_pb2.EventEnvelope]:
        return await self._store.load(order_id)

    async def append(self, order: domain.Order, events: Sequence[domain.Event]) -> domain.Order:
        envelopes = [
            make_envelope(
                event_to_proto(event),
                aggregate_type="order",
                aggregate_id=order.order_id,
                aggregate_version=order.version + offset,
                producer=self._uow.producer,
                correlation_id=order.order_id,
            )
            for offset, event in enumerate(events, start=1)
        ]
        await self._store.append(order.order_id, order.version, envelopes)
        for envelope in envelopes:
            self._uow.record(envelope)  # to the outbox, in this same transaction
        for event, envelope in zip(events, envelopes, strict=True):
            order = order.apply(event, envelope.occurred_at.ToDatetime(tzinfo=UTC))
        return order

    async def claim_idempotency_key(self, customer_id: str, key: str, order_id: str, fingerprint: str) -> bool:
        claimed = await self._conn.fetchval(
            """INSERT INTO order_idempotency_keys (customer_id, idempotency_key, order_id, fingerprint)
               VALUES ($1, $2, $3, $4) ON CONFLICT (customer_id, idempotency_key) DO NOTHING RETURNING true""",
            customer_id,
            key,
            order_id,
            fingerprint,
        )
        return bool(claimed)

    async def find_idempotency_key(self, customer_id: str, key: str) -> tuple[str, str] | None:
        row = await self._conn.fetchrow(
            """SELECT order_id, fingerprint FROM order_idempotency_keys
               WHERE customer_id = $1 AND idempotency_key = $2""",
            customer_id,
            key,
        )
        return (row["order_id"], row["fingerprint"]) if row else None


class PostgresUnitOfWork(kit_uow.PostgresUnitOfWork[envelope_pb2.EventEnvelope]):
    """Appends to the event store and the outbox (topic orders.order.v1) in one transaction."""

    def _open(self, conn: PoolConnectionProxy) -> None:
        self.orders = EventSourcedOrderRepository(conn, self)

    def _envelope(self, event: envelope_pb2.EventEnvelope) -> envelope_pb2.EventEnvelope:
        return event  # already built by the repository, with the stream's versions
