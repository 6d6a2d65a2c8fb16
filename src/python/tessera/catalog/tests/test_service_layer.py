"""The use cases on in-memory fakes of the ports: logic only (the adapters have their own integration tests)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from tessera.catalog import domain
from tessera.catalog.service_layer import CatalogService, CreateProduct, UpdateProduct
from tessera.catalog.tests.fakes import FakeProductCache, FakeProductRepository
from tessera.kit.errors import InvalidRequest
from tessera.testing.fakes import FakeUnitOfWork


@pytest.fixture
def world():
    store, published, cache = FakeProductRepository(), [], FakeProductCache()
    service = CatalogService(
        lambda: FakeUnitOfWork(published, products=store), cache, clock=lambda: datetime(2026, 1, 1, tzinfo=UTC)
    )
    return service, store, published, cache


def mug(sku: str = "MUG-1", price: int = 1299) -> CreateProduct:
    return CreateProduct(sku=sku, name="Mug", description="", price_cents=price, currency="EUR")


async def test_create_records_one_created_event(world):
    service, store, published, _ = world
    product = await service.create_product(mug())
    assert store.rows[product.product_id] == product
    assert published == [domain.ProductCreated(product)]


async def test_invalid_create_writes_nothing(world):
    service, store, published, _ = world
    with pytest.raises(domain.InvalidProduct):
        await service.create_product(mug(price=-1))
    assert store.rows == {}
    assert published == []


async def test_duplicate_sku_is_rejected_and_publishes_nothing(world):
    service, store, published, _ = world
    await service.create_product(mug())
    with pytest.raises(domain.SkuAlreadyExists):
        await service.create_product(mug())
    assert len(store.rows) == 1
    assert len(published) == 1


async def test_get_caches_and_second_read_is_a_hit(world):
    service, _, _, cache = world
    product = await service.get_product(str((await service.create_product(mug())).product_id))
    assert cache.hits == 0
    assert await service.get_product(str(product.product_id)) == product
    assert cache.hits == 1


async def test_get_unknown_raises_not_found(world):
    service, *_ = world
    with pytest.raises(domain.ProductNotFound):
        await service.get_product(str(uuid.uuid4()))


async def test_update_invalidates_cache_and_records_event(world):
    service, _, published, cache = world
    created = await service.create_product(mug())
    await service.get_product(str(created.product_id))
    assert created.product_id in cache.entries
    changes = domain.ProductChanges(price_cents=999)
    updated = await service.update_product(UpdateProduct(str(created.product_id), changes))
    assert updated.version == 2
    assert created.product_id not in cache.entries
    assert published[-1] == domain.ProductUpdated(updated, ["price_cents"])


async def test_update_with_stale_version_conflicts_and_changes_nothing(world):
    service, store, published, _ = world
    created = await service.create_product(mug())
    with pytest.raises(domain.VersionConflict):
        await service.update_product(
            UpdateProduct(str(created.product_id), domain.ProductChanges(price_cents=1), expected_version=7)
        )
    assert store.rows[created.product_id] == created
    assert len(published) == 1


async def test_no_op_update_publishes_nothing(world):
    service, _, published, _ = world
    created = await service.create_product(mug())
    same = await service.update_product(UpdateProduct(str(created.product_id), domain.ProductChanges(name="Mug")))
    assert same == created
    assert len(published) == 1


async def test_list_pages_through_all_products_in_sku_order(world):
    service, *_ = world
    for i in range(5):
        await service.create_product(mug(sku=f"SKU-{i}"))
    seen, token = [], ""
    while True:
        page = await service.list_products(2, token)
        seen += [p.sku for p in page.products]
        token = page.next_page_token
        if not token:
            break
    assert seen == [f"SKU-{i}" for i in range(5)]


@pytest.mark.parametrize(("size", "token"), [(-1, ""), (101, ""), (10, "%%%")])
async def test_list_rejects_bad_paging(world, size, token):
    service, *_ = world
    with pytest.raises(InvalidRequest):
        await service.list_products(size, token)
