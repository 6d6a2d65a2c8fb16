"""What the gateway returns to clients (REST bodies; GraphQL types are derived from these), built from protos."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Annotated

from google.protobuf.json_format import MessageToDict
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp
from inventory.v1 import inventory_pb2
from orders.v1 import events_pb2 as order_events
from orders.v1 import orders_pb2
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field
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


def _json_integer(value: object) -> object:
    """What JSON Schema calls an integer: a number without a fraction. Pydantic's lax mode would also take true,
    false and numeric strings, which the OpenAPI document says are refused."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("must be an integer")
    return value


# Request bodies' integers. Bounded by what the services' int64 fields hold, as the document says.
Integer = Annotated[int, BeforeValidator(_json_integer)]


class OrderItem(BaseModel):
    product_id: uuid.UUID
    quantity: Integer = Field(ge=1, le=1000)


class PlaceOrder(BaseModel):
    """The customer is the token's: a body cannot name another one."""

    model_config = ConfigDict(extra="forbid")

    items: list[OrderItem] = Field(min_length=1, max_length=50)
    card_token: str = Field(min_length=1, max_length=128)

    def to_proto(self, customer_id: str, idempotency_key: str, payment_method_id: str) -> orders_pb2.PlaceOrderRequest:
        """The order names the payment method payments gave for the card token, never the token."""
        return orders_pb2.PlaceOrderRequest(
            idempotency_key=idempotency_key,
            customer_id=customer_id,
            items=[
                orders_pb2.PlaceOrderRequest.Item(product_id=str(i.product_id), quantity=i.quantity) for i in self.items
            ],
            payment_method_id=payment_method_id,
        )


# The catalog's rules, stated again here so the OpenAPI document shows them (the catalog still decides).
Sku = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$", description="unique: letters, digits, ._-")]
Currency = Annotated[str, Field(pattern=r"^[A-Z]{3}$", description="ISO 4217, e.g. EUR")]
PriceCents = Annotated[int, Field(ge=0, le=10**12, description="minor units"), BeforeValidator(_json_integer)]
ProductName = Annotated[str, Field(min_length=1, max_length=200, pattern=r"\S", description="not only spaces")]
Description = Annotated[str, Field(max_length=2000)]


class NewProduct(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sku: Sku
    name: ProductName
    description: Description = ""
    price_cents: PriceCents
    currency: Currency

    def to_proto(self) -> catalog_pb2.CreateProductRequest:
        return catalog_pb2.CreateProductRequest(**self.model_dump())


class ProductChange(BaseModel):
    """The fields to change; the others stay. With expected_version, only if nobody changed it since (else 409)."""

    model_config = ConfigDict(extra="forbid")

    name: ProductName | None = None
    description: Description | None = None
    price_cents: PriceCents | None = None
    currency: Currency | None = None
    # (bounded where a JSON number is exact even when a client reads it as a double, far beyond any version)
    expected_version: Integer = Field(default=0, ge=0, le=2**31 - 1, description="0: whatever the version")

    def to_proto(self, product_id: str) -> catalog_pb2.UpdateProductRequest:
        return catalog_pb2.UpdateProductRequest(product_id=product_id, **self.model_dump(exclude_none=True))


class SetStock(BaseModel):
    model_config = ConfigDict(extra="forbid")

    on_hand: Integer = Field(ge=0, le=10**9, description="units physically there; at least what is reserved")


class StockLevel(BaseModel):
    product_id: str
    on_hand: int
    reserved: int
    available: int = Field(description="on_hand - reserved: what orders can still take")
    version: int

    @classmethod
    def of(cls, s: inventory_pb2.StockLevel) -> StockLevel:
        return cls(
            product_id=s.product_id, on_hand=s.on_hand, reserved=s.reserved, available=s.available, version=s.version
        )


class Problem(BaseModel):
    """The body of every error answer."""

    status: int
    error: str
    detail: str
    request_id: str = Field(description="the request's id (also the X-Request-Id header): quote it to report it")
