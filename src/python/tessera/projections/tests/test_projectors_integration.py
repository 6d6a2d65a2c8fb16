"""The read models on a real MongoDB-protocol server (the session's FerretDB): projected, guarded, rebuilt."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from google.protobuf.message import Message
from inventory.v1 import events_pb2 as inventory_events
from inventory.v1 import inventory_pb2
from orders.v1 import events_pb2 as order_events
from orders.v1 import orders_pb2
from pymongo.asynchronous.database import AsyncDatabase
from readmodels.v1 import readmodels_pb2

from events.v1 import envelope_pb2
from tessera.kit.config import KafkaSettings
from tessera.kit.documents import Document, create_mongo
from tessera.kit.events import make_envelope
from tessera.kit.kafka import ensure_topics
from tessera.localinfra import InfraEndpoints
from tessera.projections.entrypoints.grpc_api import ReadModelGrpcApi
from tessera.projections.projectors import ORDER_SUMMARIES, PROJECTORS, STOCK_VIEWS, apply, ensure_indexes
from tessera.projections.rebuild import rebuild_views
from tessera.topology import topic_of

ORDERS, STOCK = topic_of("orders"), topic_of("inventory")

pytestmark = pytest.mark.integration

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
NO_CONTEXT: Any = None  # the servicer's methods, called directly: they use no context


@pytest.fixture
async def views(infra: InfraEndpoints) -> AsyncIterator[AsyncDatabase[Document]]:
    """A database of its own on the server, dropped afterwards."""
    client = create_mongo(infra.mongo_url, app_name="projections-test")
    name = f"test_{uuid.uuid4().hex[:12]}"
    await ensure_indexes(client[name])
    try:
        yield client[name]
    finally:
        await client.drop_database(name)
        await client.close()


def _order_event(order_id: str, version: int, payload: Message, minutes: int = 0) -> envelope_pb2.EventEnvelope:
    return make_envelope(
        payload,
        aggregate_type="order",
        aggregate_id=order_id,
        aggregate_version=version,
        producer="orders",
        occurred_at=T0 + timedelta(minutes=minutes),
    )


def placed(order_id: str, customer: str = "c-1", minutes: int = 0) -> envelope_pb2.EventEnvelope:
    lines = [orders_pb2.OrderLine(product_id="p-1", quantity=2, unit_price_cents=500)]
    event = order_events.OrderPlaced(
        order_id=order_id, customer_id=customer, lines=lines, total_cents=1000, currency="EUR"
    )
    return _order_event(order_id, 1, event, minutes)


def confirmed(order_id: str) -> envelope_pb2.EventEnvelope:
    return _order_event(order_id, 2, order_events.OrderConfirmed(order_id=order_id, payment_id="pay-1"), 1)


def rejected(order_id: str) -> envelope_pb2.EventEnvelope:
    return _order_event(order_id, 2, order_events.OrderRejected(order_id=order_id, reason="declined"), 1)


def stock(product_id: str, version: int, on_hand: int, reserved: int) -> envelope_pb2.EventEnvelope:
    level = inventory_pb2.StockLevel(
        product_id=product_id, on_hand=on_hand, reserved=reserved, available=on_hand - reserved, version=version
    )
    return make_envelope(
        inventory_events.StockLevelChanged(level=level, cause="set"),
        aggregate_type="stock",
        aggregate_id=product_id,
        aggregate_version=version,
        producer="inventory",
        occurred_at=T0 + timedelta(seconds=version),
    )


async def project(views: AsyncDatabase[Document], *events: envelope_pb2.EventEnvelope) -> int:
    """Applies the events as one batch of the live projection; returns the documents changed."""
    producer = {"order": "orders", "stock": "inventory"}
    writes = [write for event in events for write in PROJECTORS[producer[event.aggregate_type]](event)]
    return await apply(views, writes)


async def documents(views: AsyncDatabase[Document]) -> dict[str, list[dict[str, Any]]]:
    return {name: await views[name].find({}).sort("_id", 1).to_list() for name in (ORDER_SUMMARIES, STOCK_VIEWS)}


async def test_a_projected_order_and_stock_level_are_read_back_through_the_api(
    views: AsyncDatabase[Document],
) -> None:
    await project(views, placed("o-1", minutes=0), placed("o-2", minutes=5), confirmed("o-1"), rejected("o-2"))
    await project(views, stock("p-1", 1, 10, 0), stock("p-1", 2, 10, 2))
    api = ReadModelGrpcApi(views)
    listed = await api.ListCustomerOrders(readmodels_pb2.ListCustomerOrdersRequest(customer_id="c-1"), NO_CONTEXT)
    assert [(o.order_id, o.status, o.total_cents, o.item_count) for o in listed.orders] == [
        ("o-2", orders_pb2.ORDER_STATUS_REJECTED, 1000, 2),  # newest first
        ("o-1", orders_pb2.ORDER_STATUS_CONFIRMED, 1000, 2),
    ]
    assert listed.orders[0].reject_reason == "declined" and listed.orders[0].placed_at.ToDatetime(
        UTC
    ) == T0 + timedelta(minutes=5)
    first = await api.ListCustomerOrders(
        readmodels_pb2.ListCustomerOrdersRequest(customer_id="c-1", page_size=1), NO_CONTEXT
    )
    rest = await api.ListCustomerOrders(
        readmodels_pb2.ListCustomerOrdersRequest(customer_id="c-1", page_size=1, page_token=first.next_page_token),
        NO_CONTEXT,
    )
    assert [o.order_id for o in (*first.orders, *rest.orders)] == ["o-2", "o-1"] and not rest.next_page_token
    level = await api.GetStockView(readmodels_pb2.GetStockViewRequest(product_id="p-1"), NO_CONTEXT)
    assert (level.on_hand, level.reserved, level.available, level.version) == (10, 2, 8, 2)


async def test_a_repeated_or_older_event_changes_nothing(views: AsyncDatabase[Document]) -> None:
    assert await project(views, placed("o-1"), confirmed("o-1"), stock("p-1", 3, 7, 1)) == 3
    before = await documents(views)
    # Each event again, a stale rejection (version 2 is taken), and older stock levels: in one batch and alone.
    assert await project(views, placed("o-1"), confirmed("o-1"), stock("p-1", 2, 9, 0), stock("p-1", 3, 7, 1)) == 0
    for event in (placed("o-1"), rejected("o-1"), stock("p-1", 1, 10, 0)):
        assert await project(views, event) == 0
    assert await documents(views) == before
    order = before[ORDER_SUMMARIES][0]
    assert (order["status"], order["version"]) == ("confirmed", 2)


async def test_a_batch_applies_each_document_s_events_in_their_order(views: AsyncDatabase[Document]) -> None:
    # Out of order inside the batch for stock (levels carry the whole state: the newest wins), in order for an
    # order's stream (placed, then confirmed), one bulk write per collection.
    await project(views, stock("p-1", 5, 4, 0), placed("o-1"), stock("p-1", 4, 5, 1), confirmed("o-1"))
    found = await documents(views)
    assert [(d["on_hand"], d["version"]) for d in found[STOCK_VIEWS]] == [(4, 5)]
    assert [(d["status"], d["version"]) for d in found[ORDER_SUMMARIES]] == [("confirmed", 2)]


async def test_a_rebuild_from_the_topics_gives_the_same_documents(
    views: AsyncDatabase[Document], kafka_bootstrap: str, topic_prefix: str
) -> None:
    kafka = KafkaSettings(kafka_bootstrap=kafka_bootstrap, kafka_topic_prefix=topic_prefix)
    orders = [placed("o-1"), confirmed("o-1"), placed("o-2", customer="c-2", minutes=3), rejected("o-2")]
    levels = [stock("p-1", 1, 10, 0), stock("p-1", 2, 10, 3), stock("p-2", 1, 5, 0)]
    await ensure_topics(kafka_bootstrap, [kafka.topic(ORDERS), kafka.topic(STOCK)], partitions=2, replication=1)
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    await producer.start()
    try:
        for topic, events in ((ORDERS, orders), (STOCK, levels)):
            for event in events:
                await producer.send_and_wait(
                    kafka.topic(topic), event.SerializeToString(), key=event.aggregate_id.encode()
                )
    finally:
        await producer.stop()
    await project(views, *orders, *levels)
    live = await documents(views)
    await views[ORDER_SUMMARIES].update_one({"_id": "o-1"}, {"$set": {"status": "tampered"}})  # rebuilt away

    replayed = await rebuild_views(views, kafka)
    assert replayed == {ORDERS: 4, STOCK: 3}
    assert await documents(views) == live


async def test_two_writers_at_once_agree_on_every_document(views: AsyncDatabase[Document]) -> None:
    """A rebuild beside the live projection: both insert the same new documents at once. Whichever wins each race,
    the other's insert finds the document there, and the documents are as one writer alone makes them."""
    events = [e for n in range(40) for e in (placed(f"o-{n}"), confirmed(f"o-{n}"), stock(f"p-{n}", 1, 9, 1))]
    await asyncio.gather(project(views, *events), project(views, *events))
    found = await documents(views)
    assert {(d["_id"], d["status"], d["version"]) for d in found[ORDER_SUMMARIES]} == {
        (f"o-{n}", "confirmed", 2) for n in range(40)
    }
    assert len(found[STOCK_VIEWS]) == 40
