"""Mapping between the order domain and its orders.v1 protobuf messages (API and events)."""

from __future__ import annotations

from datetime import UTC, datetime

from google.protobuf.message import Message
from orders.v1 import events_pb2, orders_pb2

from events.v1 import envelope_pb2
from tessera.orders import domain

_STATUS = {
    domain.Status.PENDING: orders_pb2.ORDER_STATUS_PENDING,
    domain.Status.CONFIRMED: orders_pb2.ORDER_STATUS_CONFIRMED,
    domain.Status.REJECTED: orders_pb2.ORDER_STATUS_REJECTED,
    domain.Status.CANCELLED: orders_pb2.ORDER_STATUS_CANCELLED,
}


ORDER_AGGREGATE = "order"  # the aggregate type of the orders' event streams and envelopes


def _line(line: domain.Line) -> orders_pb2.OrderLine:
    return orders_pb2.OrderLine(
        product_id=line.product_id, quantity=line.quantity, unit_price_cents=line.unit_price_cents
    )


def order_to_proto(order: domain.Order) -> orders_pb2.Order:
    message = orders_pb2.Order(
        order_id=order.order_id,
        customer_id=order.customer_id,
        status=_STATUS[order.status],
        lines=[_line(line) for line in order.lines],
        total_cents=order.total_cents,
        currency=order.currency,
        reject_reason=order.reject_reason,
        payment_id=order.payment_id,
        version=order.version,
    )
    if order.placed_at:
        message.placed_at.FromDatetime(order.placed_at)
    if order.updated_at:
        message.updated_at.FromDatetime(order.updated_at)
    return message


def event_to_proto(event: domain.Event) -> Message:
    match event:
        case domain.OrderPlaced():
            return events_pb2.OrderPlaced(
                order_id=event.order_id,
                customer_id=event.customer_id,
                lines=[_line(line) for line in event.lines],
                total_cents=event.total_cents,
                currency=event.currency,
                payment_method_id=event.payment_method_id,
            )
        case domain.OrderConfirmed():
            return events_pb2.OrderConfirmed(order_id=event.order_id, payment_id=event.payment_id)
        case domain.OrderRejected():
            return events_pb2.OrderRejected(order_id=event.order_id, reason=event.reason)
        case domain.OrderCancelled():
            return events_pb2.OrderCancelled(order_id=event.order_id, reason=event.reason)


def event_from_envelope(envelope: envelope_pb2.EventEnvelope) -> tuple[domain.Event, datetime]:
    """The domain event in a stored envelope, with the time it happened."""
    at = envelope.occurred_at.ToDatetime(tzinfo=UTC)
    payload = envelope.payload
    if payload.Is(events_pb2.OrderPlaced.DESCRIPTOR):
        placed = events_pb2.OrderPlaced()
        payload.Unpack(placed)
        lines = tuple(domain.Line(li.product_id, li.quantity, li.unit_price_cents) for li in placed.lines)
        return (
            domain.OrderPlaced(
                placed.order_id,
                placed.customer_id,
                lines,
                placed.total_cents,
                placed.currency,
                placed.payment_method_id,
            ),
            at,
        )
    if payload.Is(events_pb2.OrderConfirmed.DESCRIPTOR):
        confirmed = events_pb2.OrderConfirmed()
        payload.Unpack(confirmed)
        return domain.OrderConfirmed(confirmed.order_id, confirmed.payment_id), at
    if payload.Is(events_pb2.OrderRejected.DESCRIPTOR):
        rejected = events_pb2.OrderRejected()
        payload.Unpack(rejected)
        return domain.OrderRejected(rejected.order_id, rejected.reason), at
    if payload.Is(events_pb2.OrderCancelled.DESCRIPTOR):
        cancelled = events_pb2.OrderCancelled()
        payload.Unpack(cancelled)
        return domain.OrderCancelled(cancelled.order_id, cancelled.reason), at
    raise ValueError(f"not an order event: {envelope.event_type}")
