"""The event-sourced order repository on Postgres (the kit's event store), and the orders' unit of work."""

from __future__ import annotations

from asyncpg.pool import PoolConnectionProxy

from tessera.kit.event_store import EventSourcedRepository
from tessera.kit.uow import PostgresUnitOfWork
from tessera.orders.adapters.messages import ORDER_AGGREGATE
from tessera.orders.adapters.streams import OrderStreams, fold_orders


class PostgresOrderRepository(OrderStreams):
    """Orders as event streams in the event store, and their idempotency keys."""

    def __init__(self, uow: PostgresOrdersUnitOfWork) -> None:
        super().__init__(EventSourcedRepository.in_unit_of_work(uow, ORDER_AGGREGATE, **fold_orders()))
        self._conn = uow.conn

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


class PostgresOrdersUnitOfWork(PostgresUnitOfWork):
    """Appends to the event store and the outbox (topic orders.order.v1) in one transaction."""

    def _open(self, conn: PoolConnectionProxy) -> None:
        self.orders = PostgresOrderRepository(self)
