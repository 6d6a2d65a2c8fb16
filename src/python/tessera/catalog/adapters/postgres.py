"""Postgres repository and unit of work: products and their outbox events in one transaction."""

from __future__ import annotations

import uuid

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from tessera.catalog import domain
from tessera.kit.db import Connection
from tessera.kit.uow import PostgresUnitOfWork

_COLUMNS = "product_id, sku, name, description, price_cents, currency, version, created_at, updated_at"


def _product(row: asyncpg.Record) -> domain.Product:
    return domain.Product(**dict(row))


class PostgresProductRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def add(self, product: domain.Product) -> None:
        try:
            await self._conn.execute(
                f"INSERT INTO products ({_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                product.product_id,
                product.sku,
                product.name,
                product.description,
                product.price_cents,
                product.currency,
                product.version,
                product.created_at,
                product.updated_at,
            )
        except asyncpg.UniqueViolationError:
            raise domain.SkuAlreadyExists(product.sku) from None

    async def get(self, product_id: uuid.UUID, *, for_update: bool = False) -> domain.Product | None:
        lock = " FOR UPDATE" if for_update else ""
        row = await self._conn.fetchrow(f"SELECT {_COLUMNS} FROM products WHERE product_id = $1{lock}", product_id)
        return _product(row) if row else None

    async def save(self, product: domain.Product) -> None:
        await self._conn.execute(
            "UPDATE products SET name = $2, description = $3, price_cents = $4, currency = $5, version = $6, "
            "updated_at = $7 WHERE product_id = $1",
            product.product_id,
            product.name,
            product.description,
            product.price_cents,
            product.currency,
            product.version,
            product.updated_at,
        )

    async def list_after_sku(self, after_sku: str | None, limit: int) -> list[domain.Product]:
        rows = await self._conn.fetch(
            f"SELECT {_COLUMNS} FROM products WHERE $1::text IS NULL OR sku > $1 ORDER BY sku LIMIT $2",
            after_sku,
            limit,
        )
        return [_product(r) for r in rows]


class PostgresCatalogUnitOfWork(PostgresUnitOfWork):
    """Products and their events (to topic catalog.product.v1) in one transaction."""

    def _open(self, conn: PoolConnectionProxy) -> None:
        self.products = PostgresProductRepository(conn)
