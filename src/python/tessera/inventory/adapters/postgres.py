"""Postgres repositories and unit of work of the inventory.

Overselling is impossible by construction: a hold is a single conditional UPDATE (`available >= quantity`),
which Postgres re-checks on the latest row version after any concurrent writer commits; and a CHECK constraint
(reserved <= on_hand) backs it in the schema.
"""

from __future__ import annotations

import json
import uuid

import asyncpg
from asyncpg.pool import PoolConnectionProxy
from asyncpg.transaction import Transaction

from tessera.inventory import domain
from tessera.kit.db import Connection
from tessera.kit.uow import PostgresUnitOfWork

_STOCK = "product_id, on_hand, reserved, version"


def _level(row: asyncpg.Record | None) -> domain.StockLevel:
    if row is None:  # only for products that must exist: their reservation holds them
        raise domain.NotFound("stock row missing")
    return domain.StockLevel(**dict(row))


class PostgresStockRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def get(self, product_id: uuid.UUID) -> domain.StockLevel | None:
        row = await self._conn.fetchrow(f"SELECT {_STOCK} FROM stock WHERE product_id = $1", product_id)
        return _level(row) if row else None

    async def set_on_hand(self, product_id: uuid.UUID, on_hand: int) -> domain.StockLevel:
        try:
            row = await self._conn.fetchrow(
                f"""INSERT INTO stock (product_id, on_hand) VALUES ($1, $2)
                    ON CONFLICT (product_id) DO UPDATE SET on_hand = $2, version = stock.version + 1
                    RETURNING {_STOCK}""",
                product_id,
                on_hand,
            )
        except asyncpg.CheckViolationError:
            raise domain.InvalidRequest({"on_hand": "must not fall below the quantity already reserved"}) from None
        return _level(row)

    async def try_reserve(self, line: domain.Line) -> domain.StockLevel | None:
        row = await self._conn.fetchrow(
            f"""UPDATE stock SET reserved = reserved + $2, version = version + 1
                WHERE product_id = $1 AND on_hand - reserved >= $2 RETURNING {_STOCK}""",
            line.product_id,
            line.quantity,
        )
        return _level(row) if row else None

    async def unreserve(self, line: domain.Line) -> domain.StockLevel:
        row = await self._conn.fetchrow(
            f"""UPDATE stock SET reserved = reserved - $2, version = version + 1
                WHERE product_id = $1 RETURNING {_STOCK}""",
            line.product_id,
            line.quantity,
        )
        return _level(row)

    async def ship(self, line: domain.Line) -> domain.StockLevel:
        row = await self._conn.fetchrow(
            f"""UPDATE stock SET reserved = reserved - $2, on_hand = on_hand - $2, version = version + 1
                WHERE product_id = $1 RETURNING {_STOCK}""",
            line.product_id,
            line.quantity,
        )
        return _level(row)


def _reservation(row: asyncpg.Record) -> domain.Reservation:
    lines = tuple(domain.Line(uuid.UUID(pid), qty) for pid, qty in json.loads(row["lines"]))
    return domain.Reservation(row["order_id"], domain.Status(row["status"]), lines, row["reason"])


class PostgresReservationRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def insert_if_absent(self, reservation: domain.Reservation) -> domain.Reservation | None:
        inserted = await self._conn.fetchval(
            """INSERT INTO reservations (order_id, status, lines, reason) VALUES ($1, $2, $3, $4)
               ON CONFLICT (order_id) DO NOTHING RETURNING true""",
            reservation.order_id,
            reservation.status.value,
            json.dumps([[str(line.product_id), line.quantity] for line in reservation.lines]),
            reservation.reason,
        )
        return None if inserted else await self.get(reservation.order_id)

    async def get(self, order_id: str, *, for_update: bool = False) -> domain.Reservation | None:
        lock = " FOR UPDATE" if for_update else ""
        row = await self._conn.fetchrow(
            f"SELECT order_id, status, lines, reason FROM reservations WHERE order_id = $1{lock}", order_id
        )
        return _reservation(row) if row else None

    async def set_status(self, order_id: str, status: domain.Status, reason: str = "") -> None:
        await self._conn.execute(
            "UPDATE reservations SET status = $2, reason = $3, updated_at = now() WHERE order_id = $1",
            order_id,
            status.value,
            reason,
        )


class Savepoint:
    def __init__(self, transaction: Transaction) -> None:
        self._transaction = transaction

    async def rollback(self) -> None:
        await self._transaction.rollback()

    async def release(self) -> None:
        await self._transaction.commit()


class PostgresInventoryUnitOfWork(PostgresUnitOfWork):
    """Stock, reservations and their events (to topic inventory.stock.v1) in one transaction."""

    def _open(self, conn: PoolConnectionProxy) -> None:
        self.stock = PostgresStockRepository(conn)
        self.reservations = PostgresReservationRepository(conn)

    async def savepoint(self) -> Savepoint:
        nested = self.conn.transaction()  # inside a transaction, asyncpg makes this a SAVEPOINT
        await nested.start()
        return Savepoint(nested)
