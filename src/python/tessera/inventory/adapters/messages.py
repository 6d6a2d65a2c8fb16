"""Mapping between the inventory's domain and its inventory.v1 protobuf messages."""

from __future__ import annotations

from inventory.v1 import events_pb2, inventory_pb2

from tessera.inventory import domain

_STATUS = {
    domain.Status.RESERVED: inventory_pb2.RESERVATION_STATUS_RESERVED,
    domain.Status.REJECTED: inventory_pb2.RESERVATION_STATUS_REJECTED,
    domain.Status.RELEASED: inventory_pb2.RESERVATION_STATUS_RELEASED,
    domain.Status.COMMITTED: inventory_pb2.RESERVATION_STATUS_COMMITTED,
}


def level_to_proto(level: domain.StockLevel) -> inventory_pb2.StockLevel:
    return inventory_pb2.StockLevel(
        product_id=str(level.product_id),
        on_hand=level.on_hand,
        reserved=level.reserved,
        available=level.available,
        version=level.version,
    )


def reservation_to_proto(reservation: domain.Reservation) -> inventory_pb2.Reservation:
    return inventory_pb2.Reservation(
        order_id=reservation.order_id,
        status=_STATUS[reservation.status],
        lines=[
            inventory_pb2.Line(product_id=str(line.product_id), quantity=line.quantity) for line in reservation.lines
        ],
        reason=reservation.reason,
    )


def event_to_proto(event: domain.StockChanged) -> events_pb2.StockLevelChanged:
    return events_pb2.StockLevelChanged(level=level_to_proto(event.level), cause=event.cause, order_id=event.order_id)
