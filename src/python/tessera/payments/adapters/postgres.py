"""Postgres repository and unit of work of payments."""

from __future__ import annotations

import uuid

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from events.v1 import envelope_pb2
from tessera.kit import uow as kit_uow
from tessera.kit.db import Connection
from tessera.kit.events import make_envelope
from tessera.payments import domain
from tessera.payments.adapters.messages import event_to_proto

_COLUMNS = "payment_id, idempotency_key, order_id, amount_cents, currency, status, decline_reason, version"


def _payment(row: asyncpg.Record) -> domain.Payment:
    values = dict(row)
    values["status"] = domain.Status(values["status"])
    return domain.Payment(**values)


class PostgresPaymentRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def insert_if_new_key(self, payment: domain.Payment) -> domain.Payment | None:
        inserted = await self._conn.fetchval(
            f"""INSERT INTO payments ({_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
                ON CONFLICT (idempotency_key) DO NOTHING RETURNING true""",
            payment.payment_id,
            payment.idempotency_key,
            payment.order_id,
            payment.amount_cents,
            payment.currency,
            payment.status.value,
            payment.decline_reason,
            payment.version,
        )
        if inserted:
            return None
        row = await self._conn.fetchrow(
            f"SELECT {_COLUMNS} FROM payments WHERE idempotency_key = $1", payment.idempotency_key
        )
        if row is None:  # the conflicting row is visible once ON CONFLICT saw it committed
            raise RuntimeError(f"payment with key {payment.idempotency_key!r} vanished")
        return _payment(row)

    async def get(self, payment_id: uuid.UUID, *, for_update: bool = False) -> domain.Payment | None:
        lock = " FOR UPDATE" if for_update else ""
        row = await self._conn.fetchrow(f"SELECT {_COLUMNS} FROM payments WHERE payment_id = $1{lock}", payment_id)
        return _payment(row) if row else None

    async def save(self, payment: domain.Payment) -> None:
        await self._conn.execute(
            "UPDATE payments SET status = $2, version = $3, updated_at = now() WHERE payment_id = $1",
            payment.payment_id,
            payment.status.value,
            payment.version,
        )


class PostgresUnitOfWork(kit_uow.PostgresUnitOfWork[domain.PaymentChanged]):
    """Payments and their events (to topic payments.payment.v1) in one transaction."""

    def _open(self, conn: PoolConnectionProxy) -> None:
        self.payments = PostgresPaymentRepository(conn)

    def _envelope(self, event: domain.PaymentChanged) -> envelope_pb2.EventEnvelope:
        return make_envelope(
            event_to_proto(event),
            aggregate_type="payment",
            aggregate_id=str(event.payment.payment_id),
            aggregate_version=event.payment.version,
            producer=self.producer,
            correlation_id=event.payment.order_id,
        )
