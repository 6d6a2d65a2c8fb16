"""What the gateway returns to clients (REST bodies; GraphQL types are derived from these), built from protos."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from google.protobuf.json_format import MessageToDict
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp
from orders.v1 import events_pb2 as order_events
from orders.v1 import orders_pb2
from pydantic import BaseModel, ConfigDict, Field
from readmodels.v1 import readmodels_pb2

from catalog.v1 import catalog_pb2
from events.v1 import envelope_pb2


def _time(ts: Timestamp) -> datetime | None:
    return ts.ToDatetime(tzinfo=UTC) if ts.seconds or ts.nanos else None


def _status(value: int) -> str:
    return orders_pb2.OrderStatus.Name(value).removeprefix("ORDER_STATUS_").lower()  # type: ignore[arg-type]


_ORDER_EVENTS: dict[str, type[Message]] = {
    m.DESCRIPTOR.full_name: m
    for m in (
        order_events.OrderPlaced,
        order_events.OrderConfirmed,
        order_events.OrderRejected,
        order_events.OrderCancelled,
    )
}


class Product(BaseModel):
    product_id: str
    sku: str
    name: str
    description: str
    price_cents: int
    currency: str
    version: int

    @classmethod
    def of(cls, p: catalog_pb2.Product) -> Product:
        return cls(
            product_id=p.product_id,
            sku=p.sku,
            name=p.name,
            description=p.description,
            price_cents=p.price_cents,
            currency=p.currency,
            version=p.version,
        )


class ProductPage(BaseModel):
    products: list[Product]
    next_page_token: str = Field(description="pass it back for the next page; empty on the last page")


class OrderLine(BaseModel):
    product_id: str
    quantity: int
    unit_price_cents: int


class Order(BaseModel):
    order_id: str
    customer_id: str
    status: str = Field(description="pending, confirmed, rejected or cancelled")
    lines: list[OrderLine]
    total_cents: int
    currency: str
    reject_reason: str
    payment_id: str
    version: int
    placed_at: datetime | None
    updated_at: datetime | None

    @classmethod
    def of(cls, o: orders_pb2.Order) -> Order:
        return cls(
            order_id=o.order_id,
            customer_id=o.customer_id,
            status=_status(o.status),
            lines=[
                OrderLine(product_id=li.product_id, quantity=li.quantity, unit_price_cents=li.unit_price_cents)
                for li in o.lines
            ],
            total_cents=o.total_cents,
            currency=o.currency,
            reject_reason=o.reject_reason,
            payment_id=o.payment_id,
            version=o.version,
            placed_at=_time(o.placed_at),
            updated_at=_time(o.updated_at),
        )


class HistoryEvent(BaseModel):
    event_id: str
    event_type: str
    version: int
    occurred_at: datetime | None
    data: str = Field(description="the event's fields as JSON")

    @classmethod
    def of(cls, e: envelope_pb2.EventEnvelope) -> HistoryEvent:
        message_type = _ORDER_EVENTS.get(e.event_type)
        if message_type is None:
            payload: dict[str, object] = {}
        else:
            message = message_type()
            e.payload.Unpack(message)
            payload = MessageToDict(message, preserving_proto_field_name=True)
        payload.pop("card_token", None)  # never shown back, even as a token
        return cls(
            event_id=e.event_id,
            event_type=e.event_type,
            version=e.aggregate_version,
            occurred_at=_time(e.occurred_at),
            data=json.dumps(payload, sort_keys=True),
        )


class OrderSummary(BaseModel):
    order_id: str
    status: str
    total_cents: int
    currency: str
    item_count: int
    reject_reason: str
    placed_at: datetime | None

    @classmethod
    def of(cls, s: readmodels_pb2.OrderSummary) -> OrderSummary:
        return cls(
            order_id=s.order_id,
            status=_status(s.status),
            total_cents=s.total_cents,
            currency=s.currency,
            item_count=s.item_count,
            reject_reason=s.reject_reason,
            placed_at=_time(s.placed_at),
        )


class OrderItem(BaseModel):
    product_id: str = Field(min_length=1, max_length=64)
    quantity: int = Field(ge=1, le=1000)


class PlaceOrder(BaseModel):
    """The customer is the token's: a body cannot name another one."""

    model_config = ConfigDict(extra="forbid")

    items: list[OrderItem] = Field(min_length=1, max_length=50)
    card_token: str = Field(min_length=1, max_length=128)

    def to_proto(self, customer_id: str, idempotency_key: str) -> orders_pb2.PlaceOrderRequest:
        return orders_pb2.PlaceOrderRequest(
            idempotency_key=idempotency_key,
            customer_id=customer_id,
            items=[orders_pb2.PlaceOrderRequest.Item(product_id=i.product_id, quantity=i.quantity) for i in self.items],
            card_token=self.card_token,
        )


class Problem(BaseModel):
    """The body of every error answer."""

    status: int
    error: str
    detail: str
    request_id: str = Field(description="the request's id (also the X-Request-Id header): quote it to report it")
