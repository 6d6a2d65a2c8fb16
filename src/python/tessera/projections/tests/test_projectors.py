"""Which document writes each event makes (pure: no server). The integration tests run them on a real one."""

from __future__ import annotations

from datetime import UTC, datetime

from google.protobuf.message import Message
from inventory.v1 import events_pb2 as inventory_events
from inventory.v1 import inventory_pb2
from orders.v1 import events_pb2 as order_events
from orders.v1 import orders_pb2
from pymongo import UpdateOne

from events.v1 import envelope_pb2
from tessera.kit.events import make_envelope
from tessera.projections.projectors import ORDER_SUMMARIES, STOCK_VIEWS, order_writes, stock_writes

AT = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def _event(payload: Message, aggregate_id: str, version: int) -> envelope_pb2.EventEnvelope:
    return make_envelope(
        payload, aggregate_type="t", aggregate_id=aggregate_id, aggregate_version=version, producer="t", occurred_at=AT
    )


def test_placed_inserts_the_summary_once_and_never_over_a_later_state() -> None:
    lines = [orders_pb2.OrderLine(product_id="p-1", quantity=3, unit_price_cents=2)]
    placed = order_events.OrderPlaced(order_id="o-1", customer_id="c-1", lines=lines, total_cents=6, currency="EUR")
    (write,) = order_writes(_event(placed, "o-1", 1))
    assert (write.collection, write.key, write.version) == (ORDER_SUMMARIES, "o-1", 1)
    summary = {
        "customer_id": "c-1",
        "status": "pending",
        "total_cents": 6,
        "currency": "EUR",
        "item_count": 3,
        "reject_reason": "",
        "version": 1,
        "placed_at": AT,
        "updated_at": AT,
    }
    assert write.operation() == UpdateOne({"_id": "o-1"}, {"$setOnInsert": summary}, upsert=True)


def test_a_later_event_updates_only_an_older_summary() -> None:
    (write,) = order_writes(_event(order_events.OrderRejected(order_id="o-1", reason="declined"), "o-1", 2))
    change = {"status": "rejected", "reject_reason": "declined", "version": 2, "updated_at": AT}
    assert write.operation() == UpdateOne({"_id": "o-1", "version": {"$lt": 2}}, {"$set": change}, upsert=False)


def test_events_the_views_do_not_show_write_nothing() -> None:
    placed = _event(order_events.OrderPlaced(order_id="o-1"), "o-1", 1)
    assert stock_writes(placed) == []
    level = inventory_events.StockLevelChanged(level=inventory_pb2.StockLevel(product_id="p-1", version=1))
    assert order_writes(_event(level, "p-1", 1)) == []


def test_a_stock_level_is_one_upsert_on_an_older_or_absent_document() -> None:
    level = inventory_pb2.StockLevel(product_id="p-1", on_hand=5, reserved=1, available=4, version=7)
    writes = stock_writes(_event(inventory_events.StockLevelChanged(level=level), "p-1", 7))
    assert {(w.collection, w.key, w.version) for w in writes} == {(STOCK_VIEWS, "p-1", 7)}
    state = {"on_hand": 5, "reserved": 1, "available": 4, "version": 7, "updated_at": AT}
    assert [w.operation() for w in writes] == [
        UpdateOne({"_id": "p-1", "version": {"$lt": 7}}, {"$set": state}, upsert=True),
    ]
