"""The payments use cases, written against the ports below."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from types import TracebackType
from typing import Protocol, Self

from tessera.payments import domain
from tessera.payments.domain import Payment, PaymentChanged


class PaymentRepository(Protocol):
    async def insert_if_new_key(self, payment: Payment) -> Payment | None:
        """Inserts and returns None; or returns the payment already made with that idempotency key."""

    async def get(self, payment_id: uuid.UUID, *, for_update: bool = False) -> Payment | None: ...

    async def save(self, payment: Payment) -> None: ...


class UnitOfWork(Protocol):
    @property
    def payments(self) -> PaymentRepository: ...

    def record(self, event: PaymentChanged) -> None: ...

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...


class PaymentsService:
    def __init__(self, uow_factory: Callable[[], UnitOfWork]) -> None:
        self._uow = uow_factory

    async def authorize(
        self, *, idempotency_key: str, order_id: str, amount_cents: int, currency: str, card_token: str
    ) -> Payment:
        payment = domain.authorize(
            idempotency_key=idempotency_key,
            order_id=order_id,
            amount_cents=amount_cents,
            currency=currency,
            card_token=card_token,
        )
        async with self._uow() as uow:
            existing = await uow.payments.insert_if_new_key(payment)
            if existing is not None:
                if not existing.same_request(payment):
                    raise domain.InvalidRequest({"idempotency_key": "was used before for a different payment"})
                return existing
            uow.record(PaymentChanged(payment))
        return payment

    async def capture(self, payment_id: str) -> Payment:
        return await self._transition(payment_id, domain.capture)

    async def cancel(self, payment_id: str) -> Payment:
        return await self._transition(payment_id, domain.cancel)

    async def get(self, payment_id: str) -> Payment:
        pid = domain.parse_payment_id(payment_id)
        async with self._uow() as uow:
            payment = await uow.payments.get(pid)
        if payment is None:
            raise domain.NotFound(f"payment {payment_id} not found")
        return payment

    async def _transition(self, payment_id: str, change: Callable[[Payment], Payment | None]) -> Payment:
        pid = domain.parse_payment_id(payment_id)
        async with self._uow() as uow:
            current = await uow.payments.get(pid, for_update=True)
            if current is None:
                raise domain.NotFound(f"payment {payment_id} not found")
            changed = change(current)
            if changed is None:
                return current
            await uow.payments.save(changed)
            uow.record(PaymentChanged(changed))
        return changed
