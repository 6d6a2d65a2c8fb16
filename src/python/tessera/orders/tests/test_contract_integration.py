"""The orders' ports, one suite on the in-memory fakes and on the Postgres adapter: a fake cannot drift."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tessera.kit.errors import ConcurrencyConflict
from tessera.orders import domain, migrations
from tessera.orders.adapters.messages import event_to_proto
from tessera.orders.adapters.postgres import PostgresOrdersUnitOfWork
from tessera.orders.tests.fakes import FakeOrderRepository
from tessera.testing.contract import Port, postgres_port
from tessera.testing.fakes import FakeUnitOfWork

pytestmark = pytest.mark.integration
LINE = domain.Line("00000000-0000-0000-0000-000000000001", 2, 450)


@pytest.fixture(params=["fake", "postgres"])
async def port(request: pytest.FixtureRequest, postgres_dsn: str) -> AsyncIterator[Port]:
    if request.param == "fake":
        orders = FakeOrderRepository()

        async def published() -> list[tuple[str, str, int]]:
            return [(e.aggregate_type, e.aggregate_id, e.aggregate_version) for e in orders.store.appended]

        yield Port("fake", lambda: FakeUnitOfWork([], orders=orders), published)
    else:
        async with postgres_port(postgres_dsn, migrations, PostgresOrdersUnitOfWork, event_to_proto) as real:
            yield real


def placed(order_id: str = "o-1") -> domain.OrderPlaced:
    return domain.OrderPlaced(order_id, "c-1", (LINE,), 900, "EUR", "pm-1")


async def test_an_order_is_its_folded_stream_and_each_event_is_published(port: Port) -> None:
    async with port.uow() as uow:
        order = await uow.orders.append(domain.Order("o-1"), [placed()])
        confirmed = await uow.orders.append(order, [domain.OrderConfirmed("o-1", "pay-1")])
        await uow.commit()
    assert (order.version, order.status, confirmed.version, confirmed.status) == (1, "pending", 2, "confirmed")
    async with port.uow() as uow:
        assert await uow.orders.get("o-1") == confirmed
        assert await uow.orders.get("o-2") is None
        history = await uow.orders.history("o-1")
    assert [(e.event_type, e.aggregate_version) for e in history] == [
        ("orders.v1.OrderPlaced", 1),
        ("orders.v1.OrderConfirmed", 2),
    ]
    assert await port.published() == [("order", "o-1", 1), ("order", "o-1", 2)]


async def test_a_decision_on_a_stale_version_is_refused(port: Port) -> None:
    async with port.uow() as uow:
        order = await uow.orders.append(domain.Order("o-1"), [placed()])
        await uow.orders.append(order, [domain.OrderConfirmed("o-1", "pay-1")])
        await uow.commit()
    async with port.uow() as uow:
        with pytest.raises(ConcurrencyConflict):
            await uow.orders.append(order, [domain.OrderCancelled("o-1", "changed my mind")])  # version 1: stale


async def test_an_idempotency_key_is_claimed_once_per_customer(port: Port) -> None:
    async with port.uow() as uow:
        assert await uow.orders.claim_idempotency_key("c-1", "k-1", "o-1", "f-1") is True
        assert await uow.orders.claim_idempotency_key("c-1", "k-1", "o-2", "f-2") is False
        assert await uow.orders.claim_idempotency_key("c-2", "k-1", "o-3", "f-3") is True  # another customer's key
        await uow.commit()
    async with port.uow() as uow:
        assert await uow.orders.find_idempotency_key("c-1", "k-1") == ("o-1", "f-1")
        assert await uow.orders.find_idempotency_key("c-1", "k-9") is None


async def test_without_commit_nothing_is_kept_or_published(port: Port) -> None:
    async with port.uow() as uow:
        await uow.orders.claim_idempotency_key("c-1", "k-1", "o-1", "f-1")
        await uow.orders.append(domain.Order("o-1"), [placed()])
    async with port.uow() as uow:
        assert await uow.orders.get("o-1") is None
        assert await uow.orders.find_idempotency_key("c-1", "k-1") is None
    assert await port.published() == []
