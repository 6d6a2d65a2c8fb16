"""The order aggregate, event-sourced: its state is the fold of its events; commands decide new events. No I/O.

PENDING -> CONFIRMED | REJECTED | CANCELLED, all three final. Repeating a command that already took effect
decides no new event (idempotent), so the saga can retry freely.
"""

from __future__ import annotations

import enum
import hashlib
import re
from dataclasses import dataclass, replace
from datetime import datetime

from tessera.kit.errors import DependencyUnavailable, IllegalTransition, InvalidRequest, NotFound

MAX_ITEMS = 50
MAX_QUANTITY = 1_000


class Status(enum.StrEnum):
    PENDING = "pending"
    CONFIRMED = "confirmed"
    REJECTED = "rejected"
    CANCELLED = "cancelled"


@dataclass(frozen=True)
class Line:
    product_id: str
    quantity: int
    unit_price_cents: int


# --- events ---


@dataclass(frozen=True)
class OrderPlaced:
    order_id: str
    customer_id: str
    lines: tuple[Line, ...]
    total_cents: int
    currency: str
    payment_method_id: str


@dataclass(frozen=True)
class OrderConfirmed:
    order_id: str
    payment_id: str


@dataclass(frozen=True)
class OrderRejected:
    order_id: str
    reason: str


@dataclass(frozen=True)
class OrderCancelled:
    order_id: str
    reason: str


Event = OrderPlaced | OrderConfirmed | OrderRejected | OrderCancelled


@dataclass(frozen=True)
class Order:
    order_id: str
    customer_id: str = ""
    status: Status = Status.PENDING
    lines: tuple[Line, ...] = ()
    total_cents: int = 0
    currency: str = ""
    payment_method_id: str = ""
    reject_reason: str = ""
    payment_id: str = ""
    version: int = 0
    placed_at: datetime | None = None
    updated_at: datetime | None = None

    def apply(self, event: Event, at: datetime) -> Order:
        """The state after `event` (recorded at `at`)."""
        after = replace(self, version=self.version + 1, updated_at=at)
        match event:
            case OrderPlaced():
                return replace(
                    after,
                    customer_id=event.customer_id,
                    lines=event.lines,
                    total_cents=event.total_cents,
                    currency=event.currency,
                    payment_method_id=event.payment_method_id,
                    placed_at=at,
                )
            case OrderConfirmed():
                return replace(after, status=Status.CONFIRMED, payment_id=event.payment_id)
            case OrderRejected():
                return replace(after, status=Status.REJECTED, reject_reason=event.reason)
            case OrderCancelled():
                return replace(after, status=Status.CANCELLED, reject_reason=event.reason)

    @classmethod
    def replay(cls, order_id: str, history: list[tuple[Event, datetime]]) -> Order:
        order = cls(order_id)
        for event, at in history:
            order = order.apply(event, at)
        return order


@dataclass(frozen=True)
class PlaceOrder:
    idempotency_key: str
    customer_id: str
    items: tuple[tuple[str, int], ...]  # (product_id, quantity)
    payment_method_id: str

    def fingerprint(self) -> str:
        """Identifies the request, to tell a retry (same fields) from a reused key (other fields)."""
        return hashlib.sha256(repr((self.customer_id, sorted(self.items), self.payment_method_id)).encode()).hexdigest()


_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


def validate(command: PlaceOrder) -> None:
    errors: dict[str, str] = {}
    if not command.idempotency_key or len(command.idempotency_key) > 128:
        errors["idempotency_key"] = "is required (at most 128 characters)"
    if not _ID.match(command.customer_id):
        errors["customer_id"] = "is required: 1-64 letters, digits or . _ : -"
    if not command.payment_method_id:
        errors["payment_method_id"] = "is required"
    if not command.items:
        errors["items"] = "at least one item is required"
    elif len(command.items) > MAX_ITEMS:
        errors["items"] = f"at most {MAX_ITEMS} items"
    seen: set[str] = set()
    for index, (product_id, quantity) in enumerate(command.items):
        if not product_id:
            errors[f"items[{index}].product_id"] = "is required"
        elif product_id in seen:
            errors[f"items[{index}].product_id"] = "appears twice"
        seen.add(product_id)
        if not 0 < quantity <= MAX_QUANTITY:
            errors[f"items[{index}].quantity"] = f"must be between 1 and {MAX_QUANTITY}"
    if errors:
        raise InvalidRequest(errors)


def place(order_id: str, command: PlaceOrder, prices: dict[str, tuple[int, str]]) -> list[Event]:
    """`prices` maps each product id to (unit price in cents, currency), as the catalog says now."""
    currencies = {prices[product_id][1] for product_id, _ in command.items}
    if len(currencies) != 1:
        raise InvalidRequest({"items": f"all products must be priced in one currency, not {sorted(currencies)}"})
    lines = tuple(Line(pid, qty, prices[pid][0]) for pid, qty in command.items)
    total = sum(line.quantity * line.unit_price_cents for line in lines)
    return [OrderPlaced(order_id, command.customer_id, lines, total, currencies.pop(), command.payment_method_id)]


def confirm(order: Order, payment_id: str) -> list[Event]:
    if order.status is Status.CONFIRMED:
        return []
    if order.status is not Status.PENDING:
        raise IllegalTransition(f"order {order.order_id} is {order.status}; only a pending order can be confirmed")
    return [OrderConfirmed(order.order_id, payment_id)]


def reject(order: Order, reason: str) -> list[Event]:
    if order.status in (Status.REJECTED, Status.CANCELLED):
        return []
    if order.status is Status.CONFIRMED:
        raise IllegalTransition(f"order {order.order_id} is already confirmed")
    return [OrderRejected(order.order_id, reason or "rejected")]


def cancel(order: Order, reason: str) -> list[Event]:
    if order.status is Status.CANCELLED:
        return []
    if order.status is not Status.PENDING:
        raise IllegalTransition(f"order {order.order_id} is {order.status}; only a pending order can be cancelled")
    return [OrderCancelled(order.order_id, reason or "cancelled by the customer")]


__all__ = [
    "DependencyUnavailable",
    "IllegalTransition",
    "InvalidRequest",
    "NotFound",
]  # the domain's errors, from the kit
