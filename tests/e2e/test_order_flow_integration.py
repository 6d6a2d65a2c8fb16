"""The order platform end to end, on real PostgreSQL, Redis and Kafka: every service its own process, and every
service in one process (the `clients` fixture runs each test both ways)."""

from __future__ import annotations

import asyncio
import signal
import uuid

import pytest
from e2e.platform_fixtures import Clients, clients, wait_for
from inventory.v1 import inventory_pb2
from orders.v1 import orders_pb2
from payments.v1 import payments_pb2
from pymongo.asynchronous.database import AsyncDatabase
from readmodels.v1 import readmodels_pb2

from tessera.kit.config import KafkaSettings
from tessera.kit.documents import Document
from tessera.projections.projectors import ORDER_SUMMARIES, STOCK_VIEWS
from tessera.projections.rebuild import rebuild_views

__all__ = ["clients"]  # the fixture, imported for pytest

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]

CONFIRMED = orders_pb2.ORDER_STATUS_CONFIRMED
REJECTED = orders_pb2.ORDER_STATUS_REJECTED


async def test_an_order_is_confirmed_stock_leaves_and_payment_is_captured(clients: Clients) -> None:
    product = await clients.product(price_cents=1500, stock=5)
    customer = f"happy-{uuid.uuid4().hex[:6]}"
    placed = await clients.place(product, quantity=2, customer=customer)
    assert placed.status == orders_pb2.ORDER_STATUS_PENDING
    (order,) = await clients.settled(placed.order_id)
    assert order.status == CONFIRMED, order.reject_reason
    level = await clients.stock(product)
    assert (level.on_hand, level.reserved) == (3, 0)
    payment = await clients.payments.GetPayment(payments_pb2.GetPaymentRequest(payment_id=order.payment_id))
    assert (payment.status, payment.amount_cents) == (payments_pb2.PAYMENT_STATUS_CAPTURED, 3000)
    summaries = await wait_for(
        lambda: clients.customer_orders(customer), lambda found: [s.status for s in found] == [CONFIRMED], 30
    )
    assert (summaries[0].order_id, summaries[0].total_cents) == (placed.order_id, 3000)


async def test_a_declined_payment_rejects_the_order_and_releases_the_stock(clients: Clients) -> None:
    product = await clients.product(stock=5)
    placed = await clients.place(product, quantity=2, card="tok_decline")
    order = await clients.final(placed.order_id)
    assert order.status == REJECTED
    assert "declined" in order.reject_reason
    await wait_for(lambda: clients.stock(product), lambda level: level.reserved == 0, 30)
    assert (await clients.stock(product)).available == 5
    reservation = await clients.inventory.GetReservation(inventory_pb2.GetReservationRequest(order_id=placed.order_id))
    assert reservation.status == inventory_pb2.RESERVATION_STATUS_RELEASED


async def test_out_of_stock_rejects_the_order_without_charging(clients: Clients) -> None:
    product = await clients.product(stock=1)
    placed = await clients.place(product, quantity=3)
    order = await clients.final(placed.order_id)
    assert order.status == REJECTED
    assert "not enough stock" in order.reject_reason
    payments = await clients.db("payments")
    try:
        assert await payments.fetchval("SELECT count(*) FROM payments WHERE order_id = $1", placed.order_id) == 0
    finally:
        await payments.close()


async def test_the_same_idempotency_key_places_one_order(clients: Clients) -> None:
    product = await clients.product(stock=5)
    first, second = await asyncio.gather(*(clients.place(product, key="twice") for _ in range(2)))
    assert first.order_id == second.order_id
    await clients.settled(first.order_id)
    assert (await clients.stock(product)).on_hand == 4


async def test_fifty_orders_racing_for_ten_units(clients: Clients) -> None:
    product = await clients.product(stock=10)
    placed = await asyncio.gather(*(clients.place(product) for _ in range(50)))
    finals = await clients.settled(*(o.order_id for o in placed), timeout=120)
    statuses = [o.status for o in finals]
    assert statuses.count(CONFIRMED) == 10
    assert statuses.count(REJECTED) == 40
    level = await clients.stock(product)
    assert (level.on_hand, level.reserved, level.available) == (0, 0, 0)


async def test_sagas_survive_their_worker_being_killed(clients: Clients) -> None:
    product = await clients.product(stock=1000)
    orders_count = 60
    slots = asyncio.Semaphore(6)  # a steady stream of orders, so the kill lands in the middle of it

    async def place_one() -> orders_pb2.Order:
        async with slots:
            return await clients.place_until_placed(product)  # in one process, the kill takes orders down too

    placing = [asyncio.create_task(place_one()) for _ in range(orders_count)]
    first = await asyncio.gather(*placing[:10])
    await clients.final(first[0].order_id)
    await clients.platform.stop("saga", signal.SIGKILL)
    in_flight = await clients.sagas_unfinished()
    print(f"killed the saga worker with {in_flight} sagas in flight")
    assert in_flight > 0, "the worker had finished everything before it was killed: the test would prove nothing"
    if clients.platform.one_process:
        # The kill took every service of the process: orders waits for the restart, then comes.
        await clients.platform.restart("saga")
        placed = await asyncio.gather(*placing)
    else:
        placed = await asyncio.gather(*placing)  # orders keep coming while the worker is down
        await clients.platform.restart("saga")
    finals = await asyncio.gather(*(clients.final(o.order_id, timeout=120) for o in placed))
    assert finals and all(o.status == CONFIRMED for o in finals), [
        o.reject_reason for o in finals if o.status != CONFIRMED
    ]
    await wait_for(clients.sagas_unfinished, lambda n: n == 0, 60)
    level = await clients.stock(product)
    assert (level.on_hand, level.reserved) == (1000 - orders_count, 0)  # each order's stock left exactly once

    payments = await clients.db("payments")
    orders = await clients.db("orders")
    try:
        ids = [o.order_id for o in placed]
        per_order = await payments.fetch(
            "SELECT order_id, count(*) AS n, min(status) AS status FROM payments WHERE order_id = ANY($1) GROUP BY 1",
            ids,
        )
        assert len(per_order) == orders_count
        assert all(row["n"] == 1 and row["status"] == "captured" for row in per_order)
        streams = await orders.fetch(
            "SELECT stream_id, count(*) AS n FROM event_store WHERE stream_id = ANY($1) GROUP BY 1", ids
        )
        assert len(streams) == orders_count and all(row["n"] == 2 for row in streams)  # placed + confirmed, once
    finally:
        await payments.close()
        await orders.close()


async def test_the_read_model_shows_orders_and_stock_and_rebuilds_the_same(clients: Clients) -> None:
    customer = f"reader-{uuid.uuid4().hex[:6]}"
    product = await clients.product(price_cents=700, stock=4)
    good = await clients.place(product, quantity=3, customer=customer)
    bad = await clients.place(product, quantity=1, customer=customer, card="tok_decline")
    await clients.final(good.order_id)
    await clients.final(bad.order_id)

    def settled(summaries: list[readmodels_pb2.OrderSummary]) -> bool:
        return {s.order_id: s.status for s in summaries} == {good.order_id: CONFIRMED, bad.order_id: REJECTED}

    summaries = await wait_for(lambda: clients.customer_orders(customer), settled, 30)
    assert {s.order_id: s.total_cents for s in summaries} == {good.order_id: 2100, bad.order_id: 700}
    view = await wait_for(
        lambda: clients.readmodels.GetStockView(readmodels_pb2.GetStockViewRequest(product_id=product)),
        lambda v: v.reserved == 0 and v.on_hand == 1,
        30,
    )
    assert view.available == 1

    views = clients.documents("projections")
    try:
        before = await _snapshot(views)
        rebuilt = await rebuild_views_of(clients)
        assert rebuilt["orders.order.v1"] > 0 and rebuilt["inventory.stock.v1"] > 0
        assert await _snapshot(views) == before
    finally:
        await views.client.close()


async def _snapshot(views: AsyncDatabase[Document]) -> dict[str, list[Document]]:
    return {name: await views[name].find({}).sort("_id", 1).to_list() for name in (ORDER_SUMMARIES, STOCK_VIEWS)}


async def rebuild_views_of(clients: Clients) -> dict[str, int]:
    """Runs the rebuild command's own code against this platform's read database and topics."""
    platform = clients.platform
    views = clients.documents("projections")
    try:
        return await rebuild_views(
            views,
            KafkaSettings(kafka_bootstrap=platform.infra.kafka_bootstrap, kafka_topic_prefix=platform.topic_prefix),
        )
    finally:
        await views.client.close()
