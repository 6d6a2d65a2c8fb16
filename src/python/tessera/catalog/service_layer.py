"""The catalog's use cases. They speak to storage, cache and events only through the ports below, so they run
unchanged on Postgres/Redis/Kafka (adapters) and on in-memory fakes (unit tests)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from tessera.catalog import domain
from tessera.catalog.domain import Product, ProductChanges
from tessera.kit.fields import decode_page_token, encode_page_token, parse_uuid
from tessera.kit.uow import UnitOfWork

DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100


class ProductRepository(Protocol):
    async def add(self, product: Product) -> None:
        """Raises domain.SkuAlreadyExists if the SKU is taken."""

    async def get(self, product_id: uuid.UUID, *, for_update: bool = False) -> Product | None: ...

    async def save(self, product: Product) -> None: ...

    async def list_after_sku(self, after_sku: str | None, limit: int) -> list[Product]: ...


class CatalogUnitOfWork(UnitOfWork, Protocol):
    """One transaction: changes to products and the events they cause commit together or not at all."""

    @property
    def products(self) -> ProductRepository: ...


class ProductCache(Protocol):
    async def get(self, product_id: uuid.UUID) -> Product | None: ...

    async def put(self, product: Product) -> None: ...

    async def invalidate(self, product_id: uuid.UUID) -> None: ...


@dataclass(frozen=True)
class CreateProduct:
    sku: str
    name: str
    description: str
    price_cents: int
    currency: str


@dataclass(frozen=True)
class UpdateProduct:
    product_id: str
    changes: ProductChanges
    expected_version: int = 0  # 0: no check


@dataclass(frozen=True)
class ProductPage:
    products: list[Product]
    next_page_token: str


def _utcnow() -> datetime:
    return datetime.now(UTC)


class CatalogService:
    def __init__(
        self,
        uow_factory: Callable[[], CatalogUnitOfWork],
        cache: ProductCache,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self._uow = uow_factory
        self._cache = cache
        self._clock = clock

    async def create_product(self, command: CreateProduct) -> Product:
        product = domain.new_product(
            sku=command.sku,
            name=command.name,
            description=command.description,
            price_cents=command.price_cents,
            currency=command.currency,
            now=self._clock(),
        )
        async with self._uow() as uow:
            await uow.products.add(product)
            uow.record(domain.ProductCreated(product))
            await uow.commit()
        return product

    async def get_product(self, product_id: str) -> Product:
        """Cache-aside: Redis first, Postgres on a miss (then cached)."""
        pid = parse_uuid(product_id, "product_id")
        cached = await self._cache.get(pid)
        if cached is not None:
            return cached
        async with self._uow() as uow:
            product = await uow.products.get(pid)
        if product is None:
            raise domain.ProductNotFound(product_id)
        await self._cache.put(product)
        return product

    async def list_products(self, page_size: int, page_token: str) -> ProductPage:
        if page_size < 0 or page_size > MAX_PAGE_SIZE:
            raise domain.InvalidProduct({"page_size": f"must be between 0 and {MAX_PAGE_SIZE}"})
        limit = page_size or DEFAULT_PAGE_SIZE
        after = decode_page_token(page_token, parts=1)[0] if page_token else None
        async with self._uow() as uow:
            products = await uow.products.list_after_sku(after, limit + 1)
        more = len(products) > limit
        products = products[:limit]
        return ProductPage(products, encode_page_token(products[-1].sku) if more else "")

    async def update_product(self, command: UpdateProduct) -> Product:
        pid = parse_uuid(command.product_id, "product_id")
        if command.expected_version < 0:
            raise domain.InvalidProduct({"expected_version": "must not be negative"})
        async with self._uow() as uow:
            current = await uow.products.get(pid, for_update=True)
            if current is None:
                raise domain.ProductNotFound(command.product_id)
            if command.expected_version and command.expected_version != current.version:
                raise domain.VersionConflict(command.product_id, command.expected_version, current.version)
            updated, changed = domain.apply_changes(current, command.changes, self._clock())
            if not changed:
                return current
            await uow.products.save(updated)
            uow.record(domain.ProductUpdated(updated, changed))
            await uow.commit()
        # After commit: a reader that missed the cache meanwhile may re-cache the old row; the TTL bounds that.
        await self._cache.invalidate(pid)
        return updated
