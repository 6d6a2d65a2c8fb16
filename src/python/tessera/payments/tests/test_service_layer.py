"""Payments' use cases on in-memory fakes of its ports (held to Postgres by the contract test)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, cast

import pytest

from tessera.payments import domain
from tessera.payments.domain import Status
from tessera.payments.service_layer import PaymentsService, PaymentsUnitOfWork
from tessera.payments.tests.fakes import FakePaymentMethodRepository, FakePaymentRepository
from tessera.testing.fakes import FakeUnitOfWork


@pytest.fixture
def payments() -> tuple[PaymentsService, list[Any]]:
    repos = {"payments": FakePaymentRepository(), "methods": FakePaymentMethodRepository()}
    published = list[Any]()
    uow = lambda: cast(PaymentsUnitOfWork, FakeUnitOfWork(published, **repos))  # noqa: E731
    return PaymentsService(uow, method_lifetime=timedelta(minutes=5)), published


async def authorize(service: PaymentsService, key: str, method_id: str) -> domain.Payment:
    return await service.authorize(
        idempotency_key=key, order_id="o-1", amount_cents=1200, currency="EUR", payment_method_id=method_id
    )


async def test_a_method_pays_once_then_declines(payments: tuple[PaymentsService, list[Any]]) -> None:
    service, published = payments
    method = await service.register_method(idempotency_key="m-1", customer_id="c-1", card_token="tok_visa")
    first = await authorize(service, "k-1", str(method.payment_method_id))
    second = await authorize(service, "k-2", str(method.payment_method_id))
    assert (first.status, second.status) == (Status.AUTHORIZED, Status.DECLINED)
    assert [e.payment.status for e in published] == [Status.AUTHORIZED, Status.DECLINED]


async def test_a_retried_authorization_is_the_same_payment(payments: tuple[PaymentsService, list[Any]]) -> None:
    service, published = payments
    method = await service.register_method(idempotency_key="m-1", customer_id="c-1", card_token="tok_visa")
    first = await authorize(service, "k-1", str(method.payment_method_id))
    assert await authorize(service, "k-1", str(method.payment_method_id)) == first
    assert len(published) == 1
    with pytest.raises(domain.InvalidRequest, match="idempotency_key"):
        await service.authorize(
            idempotency_key="k-1", order_id="o-2", amount_cents=1, currency="EUR", payment_method_id="x"
        )


async def test_capture_then_cancel_refunds_and_an_unknown_method_declines(
    payments: tuple[PaymentsService, list[Any]],
) -> None:
    service, published = payments
    method = await service.register_method(idempotency_key="m-1", customer_id="c-1", card_token="tok_visa")
    payment = await authorize(service, "k-1", str(method.payment_method_id))
    assert (await service.capture(str(payment.payment_id))).status == Status.CAPTURED
    assert (await service.capture(str(payment.payment_id))).status == Status.CAPTURED  # idempotent, no event
    assert (await service.cancel(str(payment.payment_id))).status == Status.REFUNDED
    assert [e.payment.status for e in published] == [Status.AUTHORIZED, Status.CAPTURED, Status.REFUNDED]
    assert (await authorize(service, "k-9", "no-such-method")).status == Status.DECLINED
