"""The catalog's ports, one suite on the in-memory fakes and on the Postgres adapter: a fake cannot drift."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from tessera.catalog import domain, migrations
from tessera.catalog.adapters.messages import event_to_proto
from tessera.catalog.adapters.postgres import PostgresCatalogUnitOfWork
from tessera.catalog.tests.fakes import FakeProductRepository
from tessera.testing.contract import Port, fake_port, postgres_port

pytestmark = pytest.mark.integration
NOW = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture(params=["fake", "postgres"])
async def port(request: pytest.FixtureRequest, postgres_dsn: str) -> AsyncIterator[Port]:
    if request.param == "fake":
        yield fake_port(products=FakeProductRepository())
    else:
        async with postgres_port(postgres_dsn, migrations, PostgresCatalogUnitOfWork, event_to_proto) as real:
            yield real


def product(sku: str) -> domain.Product:
    return domain.new_product(sku=sku, name="Mug", description="", price_cents=100, currency="EUR", now=NOW)


async def test_a_committed_product_and_its_event_are_kept(port: Port) -> None:
    mug = product("MUG-1")
    async with port.uow() as uow:
        await uow.products.add(mug)
        uow.record(domain.ProductCreated(mug))
        await uow.commit()
    async with port.uow() as uow:
        assert await uow.products.get(mug.product_id) == mug
        assert await uow.products.get(uuid.uuid4()) is None
    assert await port.published() == [("product", str(mug.product_id), 1)]


async def test_without_commit_nothing_is_kept_or_published(port: Port) -> None:
    mug = product("MUG-1")
    async with port.uow() as uow:
        await uow.products.add(mug)
        uow.record(domain.ProductCreated(mug))
    async with port.uow() as uow:
        assert await uow.products.get(mug.product_id) is None
    assert await port.published() == []


async def test_a_taken_sku_is_refused(port: Port) -> None:
    async with port.uow() as uow:
        await uow.products.add(product("MUG-1"))
        await uow.commit()
    async with port.uow() as uow:
        with pytest.raises(domain.SkuAlreadyExists):
            await uow.products.add(product("MUG-1"))


async def test_a_saved_change_is_read_back(port: Port) -> None:
    mug = product("MUG-1")
    async with port.uow() as uow:
        await uow.products.add(mug)
        await uow.commit()
    changed, _ = domain.apply_changes(mug, domain.ProductChanges(price_cents=250), NOW)
    async with port.uow() as uow:
        assert await uow.products.get(mug.product_id, for_update=True) == mug
        await uow.products.save(changed)
        await uow.commit()
    async with port.uow() as uow:
        assert await uow.products.get(mug.product_id) == changed


async def test_products_list_in_sku_order_after_a_sku(port: Port) -> None:
    async with port.uow() as uow:
        for sku in ("C-1", "A-1", "B-1", "D-1"):
            await uow.products.add(product(sku))
        await uow.commit()
    async with port.uow() as uow:
        assert [p.sku for p in await uow.products.list_after_sku(None, 3)] == ["A-1", "B-1", "C-1"]
        assert [p.sku for p in await uow.products.list_after_sku("B-1", 5)] == ["C-1", "D-1"]
