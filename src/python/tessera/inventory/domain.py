"""The inventory's domain: stock levels, reservation lines and the rules of a reservation's life. No I/O.

A reservation is keyed by order id and moves RESERVED -> COMMITTED or RESERVED -> RELEASED; REJECTED (not enough
stock) and RELEASED are final. Releasing an order never seen leaves a RELEASED tombstone, so a reservation that
arrives after its order's saga gave up (a late retry) cannot hold stock forever.
"""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass

from tessera.kit.errors import IllegalTransition, InvalidRequest, NotFound
from tessera.kit.fields import parse_uuid

MAX_QUANTITY = 10_000
MAX_LINES = 100


class Status(enum.StrEnum):
    RESERVED = "reserved"
    REJECTED = "rejected"
    RELEASED = "released"
    COMMITTED = "committed"


@dataclass(frozen=True)
class Line:
    product_id: uuid.UUID
    quantity: int


@dataclass(frozen=True)
class StockLevel:
    product_id: uuid.UUID
    on_hand: int
    reserved: int
    version: int

    @property
    def available(self) -> int:
        return self.on_hand - self.reserved


@dataclass(frozen=True)
class Reservation:
    order_id: str
    status: Status
    lines: tuple[Line, ...]
    reason: str = ""


@dataclass(frozen=True)
class StockChanged:
    """Domain event: a product's stock level changed, and why."""

    level: StockLevel
    cause: str
    order_id: str = ""
    aggregate_type = "stock"

    @property
    def aggregate_id(self) -> str:
        return str(self.level.product_id)

    @property
    def aggregate_version(self) -> int:
        return self.level.version

    @property
    def correlation_id(self) -> str:
        return self.order_id


def require_order_id(order_id: str) -> str:
    if not order_id or len(order_id) > 64:
        raise InvalidRequest({"order_id": "is required (at most 64 characters)"})
    return order_id


def validate_lines(raw: list[tuple[str, int]]) -> tuple[Line, ...]:
    """Lines sorted by product id: taking row locks in one global order keeps concurrent reservations
    from deadlocking."""
    if not raw:
        raise InvalidRequest({"lines": "at least one line is required"})
    if len(raw) > MAX_LINES:
        raise InvalidRequest({"lines": f"at most {MAX_LINES} lines"})
    lines: dict[uuid.UUID, Line] = {}
    for index, (product_id, quantity) in enumerate(raw):
        pid = parse_uuid(product_id, f"lines[{index}].product_id")
        if not 0 < quantity <= MAX_QUANTITY:
            raise InvalidRequest({f"lines[{index}].quantity": f"must be between 1 and {MAX_QUANTITY}"})
        if pid in lines:
            raise InvalidRequest({f"lines[{index}].product_id": "appears twice"})
        lines[pid] = Line(pid, quantity)
    return tuple(sorted(lines.values(), key=lambda line: line.product_id))


def validate_on_hand(on_hand: int) -> int:
    if on_hand < 0:
        raise InvalidRequest({"on_hand": "must not be negative"})
    return on_hand


def check_can_release(reservation: Reservation) -> bool:
    """True if releasing changes something; False if it is already released or was never held."""
    if reservation.status is Status.COMMITTED:
        raise IllegalTransition(f"order {reservation.order_id}: a committed reservation cannot be released")
    return reservation.status is Status.RESERVED


def check_can_commit(reservation: Reservation) -> bool:
    """True if committing changes something; False if it is already committed."""
    if reservation.status in (Status.RELEASED, Status.REJECTED):
        raise IllegalTransition(f"order {reservation.order_id}: a {reservation.status} reservation cannot be committed")
    return reservation.status is Status.RESERVED


__all__ = ["IllegalTransition", "InvalidRequest", "NotFound"]  # the domain's errors, from the kit
