"""Payments over gRPC on a real Postgres (and Kafka for its events)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import asyncpg
import grpc
import pytest
from payments.v1 import events_pb2, payments_pb2, payments_pb2_grpc

from tessera.kit.events import unpack
from tessera.payments.bootstrap import SPEC
from tessera.payments.config import PaymentsSettings
from tessera.testing.events import collect_events
from tessera.testing.services import serving
from tessera.topology import topic_of

pytestmark = pytest.mark.integration


@dataclass
class Payments:
    stub: payments_pb2_grpc.PaymentsServiceAsyncStub
    db: asyncpg.Connection
    settings: PaymentsSettings


async def _served(settings: PaymentsSettings) -> AsyncIterator[Payments]:
    async with serving(SPEC, settings) as served:
        yield Payments(payments_pb2_grpc.PaymentsServiceStub(served.channel), served.db, settings)


def _settings(postgres_dsn: str, kafka_bootstrap: str, topic_prefix: str, **overrides: Any) -> PaymentsSettings:
    return PaymentsSettings(
        postgres_dsn=postgres_dsn,
        kafka_bootstrap=kafka_bootstrap,
        kafka_topic_prefix=topic_prefix,
        grpc_port=0,
        shutdown_grace_seconds=0.5,
        **overrides,
    )


@pytest.fixture
async def payments(postgres_dsn: str, kafka_bootstrap: str, topic_prefix: str) -> AsyncIterator[Payments]:
    async for served in _served(_settings(postgres_dsn, kafka_bootstrap, topic_prefix)):
        yield served


@pytest.fixture
async def short_lived(postgres_dsn: str, kafka_bootstrap: str, topic_prefix: str) -> AsyncIterator[Payments]:
    """Payment methods that live a second, and a sweep every 0.2 s."""
    settings = _settings(
        postgres_dsn,
        kafka_bootstrap,
        topic_prefix,
        payment_method_ttl_seconds=1,
        drop_expired_tokens_every_seconds=0.2,
    )
    async for served in _served(settings):
        yield served


async def method(payments: Payments, token: str = "tok_visa", key: str | None = None, customer: str = "c-1") -> str:
    """A payment method for the card token, as the gateway gets one at placement."""
    registered = await payments.stub.RegisterPaymentMethod(
        payments_pb2.RegisterPaymentMethodRequest(
            idempotency_key=key or str(uuid.uuid4()), customer_id=customer, card_token=token
        )
    )
    return registered.payment_method_id


def authorize(method_id: str, key: str = "k-1", amount: int = 2500) -> payments_pb2.AuthorizeRequest:
    return payments_pb2.AuthorizeRequest(
        idempotency_key=key, order_id="o-1", amount_cents=amount, currency="EUR", payment_method_id=method_id
    )


async def test_same_key_same_payment_even_concurrently(payments: Payments) -> None:
    request = authorize(await method(payments))
    results = await asyncio.gather(*(payments.stub.Authorize(request) for _ in range(10)))
    assert len({r.payment_id for r in results}) == 1
    assert results[0].status == payments_pb2.PAYMENT_STATUS_AUTHORIZED
    assert await payments.db.fetchval("SELECT count(*) FROM payments") == 1


async def test_a_key_reused_for_another_payment_is_refused(payments: Payments) -> None:
    method_id = await method(payments)
    await payments.stub.Authorize(authorize(method_id))
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await payments.stub.Authorize(authorize(method_id, amount=9999))
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "idempotency_key" in (raised.value.details() or "")


async def test_decline_rule_answers_declined_not_an_error(payments: Payments) -> None:
    declined = await payments.stub.Authorize(authorize(await method(payments, "tok_decline")))
    assert declined.status == payments_pb2.PAYMENT_STATUS_DECLINED
    assert declined.decline_reason
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await payments.stub.Capture(payments_pb2.CaptureRequest(payment_id=declined.payment_id))
    assert raised.value.code() == grpc.StatusCode.FAILED_PRECONDITION


async def test_a_method_pays_once_and_its_token_is_gone_once_used(payments: Payments) -> None:
    method_id = await method(payments, key="place-1")
    assert await method(payments, key="place-1") == method_id  # a retried placement: the same method
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await method(payments, "tok_other", key="place-1")
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert await method(payments, key="place-1", customer="c-2") != method_id  # keys are each customer's own

    paid = await payments.stub.Authorize(authorize(method_id, key="pay-1"))
    assert paid.status == payments_pb2.PAYMENT_STATUS_AUTHORIZED
    assert (await payments.stub.Authorize(authorize(method_id, key="pay-1"))).payment_id == paid.payment_id
    again = await payments.stub.Authorize(authorize(method_id, key="pay-2"))
    assert again.status == payments_pb2.PAYMENT_STATUS_DECLINED and "already used" in again.decline_reason
    token = "SELECT card_token FROM payment_methods WHERE payment_method_id = $1"
    assert await payments.db.fetchval(token, uuid.UUID(method_id)) is None
    for unknown in ("not-a-method", str(uuid.uuid4())):
        answer = await payments.stub.Authorize(authorize(unknown, key=f"pay-{unknown}"))
        assert answer.status == payments_pb2.PAYMENT_STATUS_DECLINED


async def test_an_unused_method_expires_and_its_token_is_dropped(short_lived: Payments) -> None:
    method_id = await method(short_lived)
    held = "SELECT count(*) FROM payment_methods WHERE card_token IS NOT NULL"
    deadline = time.monotonic() + 20
    while await short_lived.db.fetchval(held) and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
    assert await short_lived.db.fetchval(held) == 0
    late = await short_lived.stub.Authorize(authorize(method_id))
    assert late.status == payments_pb2.PAYMENT_STATUS_DECLINED


async def test_capture_refund_and_events(payments: Payments) -> None:
    authorized = await payments.stub.Authorize(authorize(await method(payments)))
    captured = await payments.stub.Capture(payments_pb2.CaptureRequest(payment_id=authorized.payment_id))
    assert captured.status == payments_pb2.PAYMENT_STATUS_CAPTURED
    for _ in range(2):
        refunded = await payments.stub.CancelPayment(
            payments_pb2.CancelPaymentRequest(payment_id=authorized.payment_id, reason="order rejected")
        )
        assert refunded.status == payments_pb2.PAYMENT_STATUS_REFUNDED
    events = await collect_events(
        payments.settings.kafka_bootstrap,
        payments.settings.topic(topic_of("payments")),
        group=f"{payments.settings.kafka_topic_prefix}reader",
        count=3,
    )
    statuses = [unpack(e, events_pb2.PaymentStatusChanged).payment.status for e in events]
    assert statuses == [
        payments_pb2.PAYMENT_STATUS_AUTHORIZED,
        payments_pb2.PAYMENT_STATUS_CAPTURED,
        payments_pb2.PAYMENT_STATUS_REFUNDED,
    ]


async def test_bad_input_and_unknown_ids(payments: Payments) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await payments.stub.Authorize(authorize(await method(payments), amount=-5))
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await payments.stub.Capture(payments_pb2.CaptureRequest(payment_id="nope"))
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await payments.stub.GetPayment(
            payments_pb2.GetPaymentRequest(payment_id="00000000-0000-0000-0000-000000000000")
        )
    assert raised.value.code() == grpc.StatusCode.NOT_FOUND
    assert await payments.db.fetchval("SELECT count(*) FROM payments") == 0
