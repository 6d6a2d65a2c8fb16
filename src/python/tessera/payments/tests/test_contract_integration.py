"""The payments' ports, one suite on the in-memory fakes and on the Postgres adapter: a fake cannot drift."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from tessera.payments import domain, migrations
from tessera.payments.adapters.messages import event_to_proto
from tessera.payments.adapters.postgres import PostgresPaymentsUnitOfWork
from tessera.payments.tests.fakes import FakePaymentMethodRepository, FakePaymentRepository
from tessera.testing.contract import Port, fake_port, postgres_port

pytestmark = pytest.mark.integration


@pytest.fixture(params=["fake", "postgres"])
async def port(request: pytest.FixtureRequest, postgres_dsn: str) -> AsyncIterator[Port]:
    if request.param == "fake":
        yield fake_port(payments=FakePaymentRepository(), methods=FakePaymentMethodRepository())
    else:
        async with postgres_port(postgres_dsn, migrations, PostgresPaymentsUnitOfWork, event_to_proto) as real:
            yield real


def payment(key: str = "k-1") -> domain.Payment:
    return domain.Payment(uuid.uuid4(), key, "o-1", 1200, "EUR", domain.Status.AUTHORIZED)


def method(key: str = "m-1", *, lifetime: timedelta = timedelta(hours=1)) -> domain.PaymentMethod:
    return domain.register_method(
        idempotency_key=key, customer_id="c-1", card_token="tok_visa", now=datetime.now(UTC), lifetime=lifetime
    )


async def test_one_payment_per_key_found_by_id_and_key_and_saved(port: Port) -> None:
    first = payment()
    async with port.uow() as uow:
        assert await uow.payments.insert_if_new_key(first) is None
        assert await uow.payments.insert_if_new_key(payment()) == first  # same key: the first one
        uow.record(domain.PaymentChanged(first))
        await uow.commit()
    captured = replace(first, status=domain.Status.CAPTURED, version=2)
    async with port.uow() as uow:
        assert await uow.payments.get(first.payment_id, for_update=True) == first
        assert await uow.payments.by_key("k-1") == first and await uow.payments.by_key("k-2") is None
        await uow.payments.save(captured)
        await uow.commit()
    async with port.uow() as uow:
        assert await uow.payments.get(first.payment_id) == captured
    assert await port.published() == [("payment", str(first.payment_id), 1)]


async def test_a_method_s_token_is_taken_once_and_not_after_expiry(port: Port) -> None:
    live, expired = method("m-1"), method("m-2", lifetime=timedelta(seconds=-1))
    async with port.uow() as uow:
        assert await uow.methods.insert_if_new_key(live) is None
        assert await uow.methods.insert_if_new_key(method("m-1")) == live  # the customer's key: the first one
        await uow.methods.insert_if_new_key(expired)
        await uow.commit()
    async with port.uow() as uow:
        assert await uow.methods.take_token(live.payment_method_id) == "tok_visa"
        assert await uow.methods.take_token(live.payment_method_id) is None  # used
        assert await uow.methods.take_token(expired.payment_method_id) is None
        assert await uow.methods.take_token(uuid.uuid4()) is None
        await uow.commit()


async def test_expired_tokens_are_dropped_and_live_ones_kept(port: Port) -> None:
    live, expired = method("m-1"), method("m-2", lifetime=timedelta(seconds=-1))
    async with port.uow() as uow:
        for registered in (live, expired):
            await uow.methods.insert_if_new_key(registered)
        assert await uow.methods.drop_expired_tokens() == 1
        assert await uow.methods.drop_expired_tokens() == 0
        assert await uow.methods.take_token(live.payment_method_id) == "tok_visa"
        await uow.commit()


async def test_without_commit_nothing_is_kept_or_published(port: Port) -> None:
    first, registered = payment(), method()
    async with port.uow() as uow:
        await uow.payments.insert_if_new_key(first)
        await uow.methods.insert_if_new_key(registered)
        uow.record(domain.PaymentChanged(first))
    async with port.uow() as uow:
        assert await uow.payments.get(first.payment_id) is None
        assert await uow.methods.take_token(registered.payment_method_id) is None
    assert await port.published() == []
