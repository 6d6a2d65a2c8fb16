"""Payments over gRPC on a real Postgres (and Kafka for its events)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import asyncpg
import grpc
import pytest
from payments.v1 import events_pb2, payments_pb2, payments_pb2_grpc

from tessera.kit.events import unpack
from tessera.payments.bootstrap import start_payments
from tessera.payments.config import PAYMENT_TOPIC, PaymentsSettings
from tessera.testing.events import collect_events
from tessera.testing.services import serving

pytestmark = pytest.mark.integration


@dataclass
class Payments:
    stub: payments_pb2_grpc.PaymentsServiceAsyncStub
    db: asyncpg.Connection
    settings: PaymentsSettings


@pytest.fixture
async def payments(postgres_dsn: str, kafka_bootstrap: str, topic_prefix: str) -> AsyncIterator[Payments]:
    settings = PaymentsSettings(
        postgres_dsn=postgres_dsn,
        kafka_bootstrap=kafka_bootstrap,
        kafka_topic_prefix=topic_prefix,
        grpc_port=0,
        shutdown_grace_seconds=0.5,
    )
    async with serving(start_payments, settings) as served:
        yield Payments(payments_pb2_grpc.PaymentsServiceStub(served.channel), served.db, settings)


def authorize(key: str = "k-1", amount: int = 2500, token: str = "tok_visa") -> payments_pb2.AuthorizeRequest:
    return payments_pb2.AuthorizeRequest(
        idempotency_key=key, order_id="o-1", amount_cents=amount, currency="EUR", card_token=token
    )


async def test_same_key_same_payment_even_concurrently(payments: Payments) -> None:
    results = await asyncio.gather(*(payments.stub.Authorize(authorize()) for _ in range(10)))
    assert len({r.payment_id for r in results}) == 1
    assert results[0].status == payments_pb2.PAYMENT_STATUS_AUTHORIZED
    assert await payments.db.fetchval("SELECT count(*) FROM payments") == 1


async def test_a_key_reused_for_another_payment_is_refused(payments: Payments) -> None:
    await payments.stub.Authorize(authorize())
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await payments.stub.Authorize(authorize(amount=9999))
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "idempotency_key" in (raised.value.details() or "")


async def test_decline_rule_answers_declined_not_an_error(payments: Payments) -> None:
    declined = await payments.stub.Authorize(authorize(token="tok_decline"))
    assert declined.status == payments_pb2.PAYMENT_STATUS_DECLINED
    assert declined.decline_reason
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await payments.stub.Capture(payments_pb2.CaptureRequest(payment_id=declined.payment_id))
    assert raised.value.code() == grpc.StatusCode.FAILED_PRECONDITION


async def test_capture_refund_and_events(payments: Payments) -> None:
    authorized = await payments.stub.Authorize(authorize())
    captured = await payments.stub.Capture(payments_pb2.CaptureRequest(payment_id=authorized.payment_id))
    assert captured.status == payments_pb2.PAYMENT_STATUS_CAPTURED
    for _ in range(2):
        refunded = await payments.stub.CancelPayment(
            payments_pb2.CancelPaymentRequest(payment_id=authorized.payment_id, reason="order rejected")
        )
        assert refunded.status == payments_pb2.PAYMENT_STATUS_REFUNDED
    events = await collect_events(
        payments.settings.kafka_bootstrap,
        payments.settings.topic(PAYMENT_TOPIC),
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
        await payments.stub.Authorize(authorize(amount=-5))
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
