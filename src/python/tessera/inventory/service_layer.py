"""The inventory's use cases, written against the ports below."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Protocol

from tessera.inventory import domain
from tessera.inventory.domain import Line, Reservation, Status, StockChanged, StockLevel
from tessera.kit.fields import parse_uuid
from tessera.kit.uow import UnitOfWork


class StockRepository(Protocol):
    async def get(self, product_id: uuid.UUID) -> StockLevel | None: ...

    async def set_on_hand(self, product_id: uuid.UUID, on_hand: int) -> StockLevel:
        """Raises domain.InvalidRequest if on_hand would fall below what is reserved."""

    async def try_reserve(self, line: Line) -> StockLevel | None:
        """Atomically holds the quantity if available; None (and no change) if not."""

    async def unreserve(self, line: Line) -> StockLevel: ...

    async def ship(self, line: Line) -> StockLevel:
        """Removes a held quantity from stock for good."""


class ReservationRepository(Protocol):
    async def insert_if_absent(self, reservation: Reservation) -> Reservation | None:
        """Inserts and returns None; or returns the existing reservation of that order, untouched."""

    async def get(self, order_id: str, *, for_update: bool = False) -> Reservation | None: ...

    async def set_status(self, order_id: str, status: Status, reason: str = "") -> None: ...


class InventoryUnitOfWork(UnitOfWork, Protocol):
    @property
    def stock(self) -> StockRepository: ...

    @property
    def reservations(self) -> ReservationRepository: ...

    async def savepoint(self) -> SavepointScope: ...


class SavepointScope(Protocol):
    async def rollback(self) -> None: ...

    async def release(self) -> None: ...


class InventoryService:
    def __init__(self, uow_factory: Callable[[], InventoryUnitOfWork]) -> None:
        self._uow = uow_factory

    async def set_stock(self, product_id: str, on_hand: int) -> StockLevel:
        pid = parse_uuid(product_id, "product_id")
        domain.validate_on_hand(on_hand)
        async with self._uow() as uow:
            level = await uow.stock.set_on_hand(pid, on_hand)
            uow.record(StockChanged(level, "set"))
            await uow.commit()
        return level

    async def get_stock(self, product_id: str) -> StockLevel:
        pid = parse_uuid(product_id, "product_id")
        async with self._uow() as uow:
            level = await uow.stock.get(pid)
        if level is None:
            raise domain.NotFound(f"no stock recorded for product {product_id}")
        return level

    async def reserve(self, order_id: str, raw_lines: list[tuple[str, int]]) -> Reservation:
        """All lines or none; the first outcome for an order id is the outcome for good."""
        domain.require_order_id(order_id)
        lines = domain.validate_lines(raw_lines)
        async with self._uow() as uow:
            existing = await uow.reservations.insert_if_absent(Reservation(order_id, Status.RESERVED, lines))
            if existing is not None:
                return existing
            savepoint = await uow.savepoint()
            levels: list[StockLevel] = []
            for line in lines:
                level = await uow.stock.try_reserve(line)
                if level is None:
                    await savepoint.rollback()
                    reason = f"not enough stock of product {line.product_id} for {line.quantity}"
                    await uow.reservations.set_status(order_id, Status.REJECTED, reason)
                    await uow.commit()  # the rejection is the outcome for good
                    return Reservation(order_id, Status.REJECTED, lines, reason)
                levels.append(level)
            await savepoint.release()
            for level in levels:
                uow.record(StockChanged(level, "reserved", order_id))
            await uow.commit()
        return Reservation(order_id, Status.RESERVED, lines)

    async def release(self, order_id: str) -> Reservation:
        domain.require_order_id(order_id)
        async with self._uow() as uow:
            existing = await uow.reservations.insert_if_absent(Reservation(order_id, Status.RELEASED, ()))
            if existing is None:  # never reserved: the tombstone now blocks a late reservation
                await uow.commit()
                return Reservation(order_id, Status.RELEASED, ())
            current = await uow.reservations.get(order_id, for_update=True)
            assert current is not None
            if not domain.check_can_release(current):
                return current
            for line in current.lines:
                uow.record(StockChanged(await uow.stock.unreserve(line), "released", order_id))
            await uow.reservations.set_status(order_id, Status.RELEASED)
            await uow.commit()
        return Reservation(order_id, Status.RELEASED, current.lines)

    async def commit(self, order_id: str) -> Reservation:
        domain.require_order_id(order_id)
        async with self._uow() as uow:
            current = await uow.reservations.get(order_id, for_update=True)
            if current is None:
                raise domain.NotFound(f"no reservation for order {order_id}")
            if not domain.check_can_commit(current):
                return current
            for line in current.lines:
                uow.record(StockChanged(await uow.stock.ship(line), "committed", order_id))
            await uow.reservations.set_status(order_id, Status.COMMITTED)
            await uow.commit()
        return Reservation(order_id, Status.COMMITTED, current.lines)

    async def get_reservation(self, order_id: str) -> Reservation:
        domain.require_order_id(order_id)
        async with self._uow() as uow:
            current = await uow.reservations.get(order_id)
        if current is None:
            raise domain.NotFound(f"no reservation for order {order_id}")
        return current
