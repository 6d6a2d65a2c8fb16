"""Postgres repository and unit of work of payments."""

from __future__ import annotations

import uuid

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from tessera.kit.db import Connection
from tessera.kit.uow import PostgresUnitOfWork
from tessera.payments import domain

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

    async def by_key(self, idempotency_key: str) -> domain.Payment | None:
        row = await self._conn.fetchrow(f"SELECT {_COLUMNS} FROM payments WHERE idempotency_key = $1", idempotency_key)
        return _payment(row) if row else None

    async def save(self, payment: domain.Payment) -> None:
        await self._conn.execute(
            "UPDATE payments SET status = $2, version = $3, updated_at = now() WHERE payment_id = $1",
            payment.payment_id,
            payment.status.value,
            payment.version,
        )


_METHOD_COLUMNS = "payment_method_id, customer_id, idempotency_key, card_token, expires_at"


class PostgresPaymentMethodRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def insert_if_new_key(self, method: domain.PaymentMethod) -> domain.PaymentMethod | None:
        inserted = await self._conn.fetchval(
            f"""INSERT INTO payment_methods ({_METHOD_COLUMNS}) VALUES ($1, $2, $3, $4, $5)
                ON CONFLICT (customer_id, idempotency_key) DO NOTHING RETURNING true""",
            method.payment_method_id,
            method.customer_id,
            method.idempotency_key,
            method.card_token,
            method.expires_at,
        )
        if inserted:
            return None
        row = await self._conn.fetchrow(
            f"SELECT {_METHOD_COLUMNS} FROM payment_methods WHERE customer_id = $1 AND idempotency_key = $2",
            method.customer_id,
            method.idempotency_key,
        )
        if row is None:
            raise RuntimeError(f"payment method with key {method.idempotency_key!r} vanished")
        return domain.PaymentMethod(**dict(row))

    async def take_token(self, method_id: uuid.UUID) -> str | None:
        taken: str | None = await self._conn.fetchval(
            """WITH held AS (
                   SELECT payment_method_id, card_token FROM payment_methods
                   WHERE payment_method_id = $1 AND card_token IS NOT NULL AND expires_at > now() FOR UPDATE)
               UPDATE payment_methods AS m SET card_token = NULL, used_at = now() FROM held
               WHERE m.payment_method_id = held.payment_method_id RETURNING held.card_token""",
            method_id,
        )
        return taken

    async def drop_expired_tokens(self) -> int:
        dropped = await self._conn.fetch(
            """UPDATE payment_methods SET card_token = NULL WHERE card_token IS NOT NULL AND expires_at <= now()
               RETURNING payment_method_id"""
        )
        # Rows without a token are an audit trail of registrations; after 30 days they go.
        await self._conn.execute("DELETE FROM payment_methods WHERE expires_at < now() - interval '30 days'")
        return len(dropped)


class PostgresPaymentsUnitOfWork(PostgresUnitOfWork):
    """Payments and their events (to topic payments.payment.v1) in one transaction."""

    def _open(self, conn: PoolConnectionProxy) -> None:
        self.payments = PostgresPaymentRepository(conn)
        self.methods = PostgresPaymentMethodRepository(conn)
