"""The catalog, declared: its settings, migrations and topic, and how its parts are put together."""

from __future__ import annotations

from collections.abc import Sequence

from tessera.catalog.adapters.cache import RedisProductCache
from tessera.catalog.adapters.messages import event_to_proto
from tessera.catalog.adapters.postgres import PostgresCatalogUnitOfWork
from tessera.catalog.config import PRODUCT_TOPIC, CatalogSettings
from tessera.catalog.entrypoints.grpc_api import CatalogGrpcApi
from tessera.catalog.service_layer import CatalogService
from tessera.kit.cache import CacheAside
from tessera.kit.service import ServiceContext, ServiceSpec


async def wire(ctx: ServiceContext[CatalogSettings]) -> Sequence[object]:
    settings, topic = ctx.settings, ctx.topic(PRODUCT_TOPIC)
    service = CatalogService(
        uow_factory=lambda: PostgresCatalogUnitOfWork(
            ctx.pool, topic=topic, service=settings.service_name, to_message=event_to_proto
        ),
        cache=RedisProductCache(CacheAside(ctx.redis, "catalog:product", settings.cache_ttl_seconds)),
    )
    return [CatalogGrpcApi(service)]


SPEC = ServiceSpec(CatalogSettings, wire, publishes=[PRODUCT_TOPIC])
