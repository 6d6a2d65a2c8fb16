"""The payments use cases, written against the ports below."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Protocol

from tessera.kit.fields import parse_uuid
from tessera.kit.uow import UnitOfWork
from tessera.payments import domain
from tessera.payments.domain import Payment, PaymentChanged, PaymentMethod


class PaymentRepository(Protocol):
    async def insert_if_new_key(self, payment: Payment) -> Payment | None:
        """Inserts and returns None; or returns the payment already made with that idempotency key."""

    async def get(self, payment_id: uuid.UUID, *, for_update: bool = False) -> Payment | None: ...

    async def by_key(self, idempotency_key: str) -> Payment | None: ...

    async def save(self, payment: Payment) -> None: ...


class PaymentMethodRepository(Protocol):
    async def insert_if_new_key(self, method: PaymentMethod) -> PaymentMethod | None:
        """Inserts and returns None; or returns the method registered before with that customer and key."""

    async def take_token(self, method_id: uuid.UUID) -> str | None:
        """The method's token, dropped from the store as it is taken; None if unknown, used or expired."""

    async def drop_expired_tokens(self) -> int:
        """Drops the tokens of methods past their expiry; returns how many."""


class PaymentsUnitOfWork(UnitOfWork, Protocol):
    @property
    def payments(self) -> PaymentRepository: ...

    @property
    def methods(self) -> PaymentMethodRepository: ...


class PaymentsService:
    def __init__(
        self, uow_factory: Callable[[], PaymentsUnitOfWork], method_lifetime: timedelta = timedelta(hours=1)
    ) -> None:
        self._uow = uow_factory
        self._method_lifetime = method_lifetime

    async def register_method(self, *, idempotency_key: str, customer_id: str, card_token: str) -> PaymentMethod:
        """Keeps the card token for one payment, and returns the method that names it."""
        method = domain.register_method(
            idempotency_key=idempotency_key,
            customer_id=customer_id,
            card_token=card_token,
            now=datetime.now(UTC),
            lifetime=self._method_lifetime,
        )
        async with self._uow() as uow:
            existing = await uow.methods.insert_if_new_key(method)
            await uow.commit()
        if existing is None:
            return method
        if not domain.same_registration(existing, method):
            raise domain.InvalidRequest({"idempotency_key": "was used before with another card"})
        return existing

    async def drop_expired_tokens(self) -> int:
        async with self._uow() as uow:
            dropped = await uow.methods.drop_expired_tokens()
            await uow.commit()
        return dropped

    async def authorize(
        self, *, idempotency_key: str, order_id: str, amount_cents: int, currency: str, payment_method_id: str
    ) -> Payment:
        """One payment per key. Its method's token is taken (and dropped) in the same transaction."""
        async with self._uow() as uow:
            earlier = await uow.payments.by_key(idempotency_key)
            method_id = domain.parse_method_id(payment_method_id)
            token = None if earlier is not None or method_id is None else await uow.methods.take_token(method_id)
            payment = domain.authorize(
                idempotency_key=idempotency_key,
                order_id=order_id,
                amount_cents=amount_cents,
                currency=currency,
                payment_method_id=payment_method_id,
                card_token=token,
            )
            if earlier is not None:
                if not earlier.same_request(payment):
                    raise domain.InvalidRequest({"idempotency_key": "was used before for a different payment"})
                return earlier
            existing = await uow.payments.insert_if_new_key(payment)
            if existing is not None:
                if not existing.same_request(payment):
                    raise domain.InvalidRequest({"idempotency_key": "was used before for a different payment"})
                return existing
            uow.record(PaymentChanged(payment))
            await uow.commit()
        return payment

    async def capture(self, payment_id: str) -> Payment:
        return await self._transition(payment_id, domain.capture)

    async def cancel(self, payment_id: str) -> Payment:
        return await self._transition(payment_id, domain.cancel)

    async def get(self, payment_id: str) -> Payment:
        pid = parse_uuid(payment_id, "payment_id")
        async with self._uow() as uow:
            payment = await uow.payments.get(pid)
        if payment is None:
            raise domain.NotFound(f"payment {payment_id} not found")
        return payment

    async def _transition(self, payment_id: str, change: Callable[[Payment], Payment | None]) -> Payment:
        pid = parse_uuid(payment_id, "payment_id")
        async with self._uow() as uow:
            current = await uow.payments.get(pid, for_update=True)
            if current is None:
                raise domain.NotFound(f"payment {payment_id} not found")
            changed = change(current)
            if changed is None:
                return current
            await uow.payments.save(changed)
            uow.record(PaymentChanged(changed))
            await uow.commit()
        return changed
