"""What clients see: history as stored (v2 events), statuses read as words, gRPC errors map to HTTP statuses."""

import json
import uuid

import grpc
import pytest
from orders.v1 import events_pb2, orders_pb2

from tessera.gateway.entrypoints.http_status import HTTP_STATUS
from tessera.gateway.views import HistoryEvent, Order, PlaceOrder
from tessera.kit.events import make_envelope


def test_history_shows_the_events_fields_and_the_payment_method_not_a_card():
    placed = events_pb2.OrderPlaced(order_id="o-1", customer_id="c-1", total_cents=500, payment_method_id="pm-1")
    envelope = make_envelope(placed, aggregate_type="order", aggregate_id="o-1", aggregate_version=1, producer="t")
    event = HistoryEvent.of(envelope)
    assert event.event_type == "orders.v1.OrderPlaced"
    assert json.loads(event.data)["payment_method_id"] == "pm-1"
    assert json.loads(event.data)["total_cents"] == "500"  # int64 travels as a string in proto JSON


def test_order_status_reads_as_a_word_and_times_carry_a_zone():
    order = orders_pb2.Order(order_id="o-1", status=orders_pb2.ORDER_STATUS_CONFIRMED)
    order.placed_at.GetCurrentTime()
    view = Order.of(order)
    assert view.status == "confirmed"
    assert view.placed_at is not None and view.placed_at.tzinfo is not None
    assert Order.of(orders_pb2.Order(order_id="o-2")).updated_at is None


@pytest.mark.parametrize(
    ("code", "status"),
    [
        (grpc.StatusCode.INVALID_ARGUMENT, 400),
        (grpc.StatusCode.NOT_FOUND, 404),
        (grpc.StatusCode.FAILED_PRECONDITION, 409),
        (grpc.StatusCode.UNAVAILABLE, 503),
        (grpc.StatusCode.DEADLINE_EXCEEDED, 504),
    ],
)
def test_grpc_errors_become_http_statuses(code, status):
    assert HTTP_STATUS[code] == status


def test_place_order_body_becomes_the_grpc_request_with_the_tokens_customer_and_the_key():
    product = uuid.uuid4()
    body = PlaceOrder(items=[{"product_id": product, "quantity": 2}], card_token="t")
    request = body.to_proto("c-1", "key-1", "pm-1")
    assert (request.customer_id, request.idempotency_key, request.items[0].quantity) == ("c-1", "key-1", 2)
    assert (request.payment_method_id, request.items[0].product_id) == ("pm-1", str(product))


def test_a_body_cannot_name_the_customer():
    with pytest.raises(ValueError, match="customer_id"):
        PlaceOrder(customer_id="c-2", items=[{"product_id": uuid.uuid4(), "quantity": 2}], card_token="t")
