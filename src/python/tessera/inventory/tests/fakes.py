"""In-memory fakes of the inventory's ports; tests/test_contract_integration.py holds them to the Postgres adapter."""

from __future__ import annotations

import uuid
from dataclasses import replace

from tessera.inventory import domain


class FakeStockRepository:
    def __init__(self) -> None:
        self.levels: dict[uuid.UUID, domain.StockLevel] = {}

    async def get(self, product_id: uuid.UUID) -> domain.StockLevel | None:
        return self.levels.get(product_id)

    async def set_on_hand(self, product_id: uuid.UUID, on_hand: int) -> domain.StockLevel:
        current = self.levels.get(product_id)
        if current is None:
            level = domain.StockLevel(product_id, on_hand, 0, 1)
        elif on_hand < current.reserved:
            raise domain.InvalidRequest({"on_hand": "must not fall below the quantity already reserved"})
        else:
            level = replace(current, on_hand=on_hand, version=current.version + 1)
        self.levels[product_id] = level
        return level

    async def try_reserve(self, line: domain.Line) -> domain.StockLevel | None:
        current = self.levels.get(line.product_id)
        if current is None or current.on_hand - current.reserved < line.quantity:
            return None
        return self._put(replace(current, reserved=current.reserved + line.quantity))

    async def unreserve(self, line: domain.Line) -> domain.StockLevel:
        current = self._existing(line.product_id)
        return self._put(replace(current, reserved=current.reserved - line.quantity))

    async def ship(self, line: domain.Line) -> domain.StockLevel:
        current = self._existing(line.product_id)
        shipped = replace(current, reserved=current.reserved - line.quantity, on_hand=current.on_hand - line.quantity)
        return self._put(shipped)

    def _existing(self, product_id: uuid.UUID) -> domain.StockLevel:
        if product_id not in self.levels:
            raise domain.NotFound("stock row missing")
        return self.levels[product_id]

    def _put(self, level: domain.StockLevel) -> domain.StockLevel:
        self.levels[level.product_id] = replace(level, version=level.version + 1)
        return self.levels[level.product_id]


class FakeReservationRepository:
    def __init__(self) -> None:
        self.rows: dict[str, domain.Reservation] = {}

    async def insert_if_absent(self, reservation: domain.Reservation) -> domain.Reservation | None:
        if reservation.order_id in self.rows:
            return self.rows[reservation.order_id]
        self.rows[reservation.order_id] = reservation
        return None

    async def get(self, order_id: str, *, for_update: bool = False) -> domain.Reservation | None:
        return self.rows.get(order_id)

    async def set_status(self, order_id: str, status: domain.Status, reason: str = "") -> None:
        if order_id in self.rows:
            self.rows[order_id] = replace(self.rows[order_id], status=status, reason=reason)
