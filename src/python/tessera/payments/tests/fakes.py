"""In-memory fakes of the payments' ports; tests/test_contract_integration.py holds them to the Postgres adapter."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from tessera.payments import domain

AUDIT_DAYS = 30  # registrations without a token are kept this long after their expiry, as in Postgres


class FakePaymentRepository:
    def __init__(self) -> None:
        self.rows: dict[uuid.UUID, domain.Payment] = {}

    async def insert_if_new_key(self, payment: domain.Payment) -> domain.Payment | None:
        earlier = await self.by_key(payment.idempotency_key)
        if earlier is None:
            self.rows[payment.payment_id] = payment
        return earlier

    async def get(self, payment_id: uuid.UUID, *, for_update: bool = False) -> domain.Payment | None:
        return self.rows.get(payment_id)

    async def by_key(self, idempotency_key: str) -> domain.Payment | None:
        return next((p for p in self.rows.values() if p.idempotency_key == idempotency_key), None)

    async def save(self, payment: domain.Payment) -> None:
        self.rows[payment.payment_id] = payment


class FakePaymentMethodRepository:
    def __init__(self) -> None:
        self.rows: dict[uuid.UUID, domain.PaymentMethod] = {}

    async def insert_if_new_key(self, method: domain.PaymentMethod) -> domain.PaymentMethod | None:
        key = (method.customer_id, method.idempotency_key)
        earlier = next((m for m in self.rows.values() if (m.customer_id, m.idempotency_key) == key), None)
        if earlier is None:
            self.rows[method.payment_method_id] = method
        return earlier

    async def take_token(self, method_id: uuid.UUID) -> str | None:
        method = self.rows.get(method_id)
        if method is None or method.card_token is None or method.expires_at <= datetime.now(UTC):
            return None
        self.rows[method_id] = replace(method, card_token=None)
        return method.card_token

    async def drop_expired_tokens(self) -> int:
        now = datetime.now(UTC)
        expired = [m for m in self.rows.values() if m.card_token is not None and m.expires_at <= now]
        for method in expired:
            self.rows[method.payment_method_id] = replace(method, card_token=None)
        for method in list(self.rows.values()):
            if method.expires_at < now - timedelta(days=AUDIT_DAYS):
                del self.rows[method.payment_method_id]
        return len(expired)
