"""In-memory fakes of the catalog's ports; tests/test_contract_integration.py holds them to the Postgres adapter."""

from __future__ import annotations

import uuid

from tessera.catalog import domain


class FakeProductRepository:
    def __init__(self) -> None:
        self.rows: dict[uuid.UUID, domain.Product] = {}

    async def add(self, product: domain.Product) -> None:
        if any(p.sku == product.sku for p in self.rows.values()):
            raise domain.SkuAlreadyExists(product.sku)
        self.rows[product.product_id] = product

    async def get(self, product_id: uuid.UUID, *, for_update: bool = False) -> domain.Product | None:
        return self.rows.get(product_id)

    async def save(self, product: domain.Product) -> None:
        self.rows[product.product_id] = product

    async def list_after_sku(self, after_sku: str | None, limit: int) -> list[domain.Product]:
        ordered = sorted(self.rows.values(), key=lambda p: p.sku)
        return [p for p in ordered if after_sku is None or p.sku > after_sku][:limit]


class FakeProductCache:
    def __init__(self) -> None:
        self.entries: dict[uuid.UUID, domain.Product] = {}
        self.hits = 0

    async def get(self, product_id: uuid.UUID) -> domain.Product | None:
        if product_id in self.entries:
            self.hits += 1
        return self.entries.get(product_id)

    async def put(self, product: domain.Product) -> None:
        self.entries[product.product_id] = product

    async def invalidate(self, product_id: uuid.UUID) -> None:
        self.entries.pop(product_id, None)
