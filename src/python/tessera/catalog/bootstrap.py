"""The catalog, put together: its settings and wiring (what it is: its entry in services.yaml)."""

from __future__ import annotations

from collections.abc import Sequence

from tessera.catalog.adapters.cache import RedisProductCache
from tessera.catalog.adapters.messages import event_to_proto
from tessera.catalog.adapters.postgres import PostgresCatalogUnitOfWork
from tessera.catalog.config import CatalogSettings
from tessera.catalog.entrypoints.grpc_api import CatalogGrpcApi
from tessera.catalog.service_layer import CatalogService
from tessera.kit.cache import CacheAside
from tessera.kit.service import ServiceContext, ServiceSpec


async def wire(ctx: ServiceContext[CatalogSettings]) -> Sequence[object]:
    settings, topic = ctx.settings, ctx.topic_of("catalog")
    service = CatalogService(
        uow_factory=lambda: PostgresCatalogUnitOfWork(
            ctx.pool, topic=topic, service=settings.service_name, to_message=event_to_proto
        ),
        cache=RedisProductCache(CacheAside(ctx.redis, "catalog:product", settings.cache_ttl_seconds)),
    )
    return [CatalogGrpcApi(service)]


SPEC = ServiceSpec(CatalogSettings, wire)
