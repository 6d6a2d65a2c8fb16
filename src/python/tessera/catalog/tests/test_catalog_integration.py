"""The catalog end to end on real PostgreSQL, Redis and Kafka: gRPC in, rows, cache entries and events out."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass
from typing import Any

import asyncpg
import grpc
import pytest
import redis.asyncio as redis
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from catalog.v1 import catalog_pb2, catalog_pb2_grpc, events_pb2
from tessera.catalog.bootstrap import SPEC
from tessera.catalog.config import CatalogSettings
from tessera.kit.events import unpack
from tessera.kit.grpc_client import check_health
from tessera.testing.events import collect_events
from tessera.testing.services import serving
from tessera.topology import topic_of

pytestmark = pytest.mark.integration


@dataclass
class Catalog:
    stub: catalog_pb2_grpc.CatalogServiceAsyncStub
    channel: grpc.aio.Channel
    db: asyncpg.Connection
    redis: redis.Redis
    settings: CatalogSettings


@pytest.fixture
async def catalog(postgres_dsn: str, redis_url: str, kafka_bootstrap: str, topic_prefix: str) -> AsyncIterator[Catalog]:
    settings = CatalogSettings(
        postgres_dsn=postgres_dsn,
        redis_url=redis_url,
        kafka_bootstrap=kafka_bootstrap,
        kafka_topic_prefix=topic_prefix,
        grpc_port=0,
        shutdown_grace_seconds=0.5,
    )
    async with serving(SPEC, settings) as served:
        client = redis.Redis.from_url(redis_url)
        served.stack.push_async_callback(client.aclose)
        stub = catalog_pb2_grpc.CatalogServiceStub(served.channel)
        yield Catalog(stub, served.channel, served.db, client, settings)


def new_product(sku: str = "MUG-1", price: int = 1299) -> catalog_pb2.CreateProductRequest:
    return catalog_pb2.CreateProductRequest(sku=sku, name="Mug", description="Blue", price_cents=price, currency="EUR")


async def test_health_is_serving_and_reflection_lists_the_api(catalog: Catalog) -> None:
    for service in ("", "catalog.v1.CatalogService"):
        assert await check_health(catalog.channel, service) == "SERVING"
    stub: Any = reflection_pb2_grpc.ServerReflectionStub(catalog.channel)  # type: ignore[arg-type]  # aio channel
    replies = stub.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")]))
    names = [s.name async for reply in replies for s in reply.list_services_response.service]
    assert "catalog.v1.CatalogService" in names
    assert "grpc.health.v1.Health" in names


async def test_trace_context_from_the_caller_reaches_the_event(catalog: Catalog) -> None:
    traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    await catalog.stub.CreateProduct(new_product(), metadata=(("traceparent", traceparent),))
    (event,) = await collect_events(
        catalog.settings.kafka_bootstrap,
        catalog.settings.topic(topic_of("catalog")),
        group=f"{catalog.settings.kafka_topic_prefix}tracing",
        count=1,
    )
    # The event continues the caller's trace (its parent span is the catalog's server span, hence the same trace id).
    assert event.trace.traceparent.split("-")[1] == traceparent.split("-")[1]


async def test_created_row_is_read_back_and_second_read_hits_the_cache(catalog: Catalog) -> None:
    created = await catalog.stub.CreateProduct(new_product())
    row = await catalog.db.fetchrow(
        "SELECT sku, price_cents, version FROM products WHERE product_id = $1", uuid.UUID(created.product_id)
    )
    assert row is not None and dict(row) == {"sku": "MUG-1", "price_cents": 1299, "version": 1}

    cache_key = f"catalog:product:{created.product_id}"
    assert await catalog.redis.exists(cache_key) == 0
    first = await catalog.stub.GetProduct(catalog_pb2.GetProductRequest(product_id=created.product_id))
    assert first == created
    assert await catalog.redis.exists(cache_key) == 1

    # Prove the second read is served from Redis: change the row behind the service's back.
    await catalog.db.execute(
        "UPDATE products SET name = 'changed in db' WHERE product_id = $1", uuid.UUID(created.product_id)
    )
    second = await catalog.stub.GetProduct(catalog_pb2.GetProductRequest(product_id=created.product_id))
    assert second.name == "Mug"


async def test_create_and_update_emit_events_and_update_invalidates_cache(catalog: Catalog) -> None:
    created = await catalog.stub.CreateProduct(new_product())
    await catalog.stub.GetProduct(catalog_pb2.GetProductRequest(product_id=created.product_id))
    cache_key = f"catalog:product:{created.product_id}"
    assert await catalog.redis.exists(cache_key) == 1

    updated = await catalog.stub.UpdateProduct(
        catalog_pb2.UpdateProductRequest(product_id=created.product_id, price_cents=999, expected_version=1)
    )
    assert (updated.price_cents, updated.version) == (999, 2)
    assert await catalog.redis.exists(cache_key) == 0
    fresh = await catalog.stub.GetProduct(catalog_pb2.GetProductRequest(product_id=created.product_id))
    assert fresh.price_cents == 999

    first, second = await collect_events(
        catalog.settings.kafka_bootstrap,
        catalog.settings.topic(topic_of("catalog")),
        group=f"{catalog.settings.kafka_topic_prefix}reader",
        count=2,
    )
    assert (first.event_type, second.event_type) == ("catalog.v1.ProductCreated", "catalog.v1.ProductUpdated")
    assert first.aggregate_id == second.aggregate_id == created.product_id
    assert (first.aggregate_version, second.aggregate_version) == (1, 2)
    assert first.producer == "catalog"
    change = unpack(second, events_pb2.ProductUpdated)
    assert isinstance(change, events_pb2.ProductUpdated)
    assert list(change.changed_fields) == ["price_cents"]
    assert change.product.price_cents == 999
    # The relay marks events published after Kafka's ack, so a consumer can see them a moment before that.
    unpublished = "SELECT count(*) FROM outbox WHERE published_at IS NULL"
    for _ in range(50):
        if await catalog.db.fetchval(unpublished) == 0:
            break
        await asyncio.sleep(0.1)
    assert await catalog.db.fetchval(unpublished) == 0


async def test_stale_version_is_aborted(catalog: Catalog) -> None:
    created = await catalog.stub.CreateProduct(new_product())
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await catalog.stub.UpdateProduct(
            catalog_pb2.UpdateProductRequest(product_id=created.product_id, price_cents=1, expected_version=5)
        )
    assert raised.value.code() == grpc.StatusCode.ABORTED


async def test_duplicate_sku_is_already_exists(catalog: Catalog) -> None:
    await catalog.stub.CreateProduct(new_product())
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await catalog.stub.CreateProduct(new_product())
    assert raised.value.code() == grpc.StatusCode.ALREADY_EXISTS
    assert await catalog.db.fetchval("SELECT count(*) FROM products") == 1


@pytest.mark.parametrize(
    ("request_", "message_part"),
    [
        (catalog_pb2.CreateProductRequest(), "sku"),
        (catalog_pb2.CreateProductRequest(sku="A-1", price_cents=100, currency="EUR"), "name"),
        (
            catalog_pb2.CreateProductRequest(sku="A-1", name="Mug", price_cents=-1, currency="EUR"),
            "price_cents",
        ),
        (catalog_pb2.CreateProductRequest(sku="A-1", name="Mug", price_cents=1, currency="euro"), "currency"),
    ],
)
async def test_bad_create_is_invalid_argument_and_writes_nothing(
    catalog: Catalog, request_: catalog_pb2.CreateProductRequest, message_part: str
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await catalog.stub.CreateProduct(request_)
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert message_part in (raised.value.details() or "")
    assert await catalog.db.fetchval("SELECT count(*) FROM products") == 0
    assert await catalog.db.fetchval("SELECT count(*) FROM outbox") == 0


async def expect_status(call: Awaitable[object], code: grpc.StatusCode) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await call
    assert raised.value.code() == code
    assert raised.value.details()


async def test_unknown_or_malformed_ids(catalog: Catalog) -> None:
    missing = str(uuid.uuid4())
    await expect_status(
        catalog.stub.GetProduct(catalog_pb2.GetProductRequest(product_id=missing)), grpc.StatusCode.NOT_FOUND
    )
    await expect_status(
        catalog.stub.GetProduct(catalog_pb2.GetProductRequest(product_id="nope")), grpc.StatusCode.INVALID_ARGUMENT
    )
    await expect_status(
        catalog.stub.UpdateProduct(catalog_pb2.UpdateProductRequest(product_id=missing, price_cents=5)),
        grpc.StatusCode.NOT_FOUND,
    )
    assert await catalog.db.fetchval("SELECT count(*) FROM outbox") == 0


async def test_bad_update_changes_nothing(catalog: Catalog) -> None:
    created = await catalog.stub.CreateProduct(new_product())
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await catalog.stub.UpdateProduct(
            catalog_pb2.UpdateProductRequest(product_id=created.product_id, price_cents=-5)
        )
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    row = await catalog.db.fetchrow("SELECT price_cents, version FROM products")
    assert row is not None and dict(row) == {"price_cents": 1299, "version": 1}
    assert await catalog.db.fetchval("SELECT count(*) FROM outbox") == 1  # only the creation


async def test_list_products_pages(catalog: Catalog) -> None:
    for i in range(5):
        await catalog.stub.CreateProduct(new_product(sku=f"SKU-{i}"))
    first = await catalog.stub.ListProducts(catalog_pb2.ListProductsRequest(page_size=3))
    second = await catalog.stub.ListProducts(
        catalog_pb2.ListProductsRequest(page_size=3, page_token=first.next_page_token)
    )
    assert [p.sku for p in first.products] + [p.sku for p in second.products] == [f"SKU-{i}" for i in range(5)]
    assert second.next_page_token == ""
