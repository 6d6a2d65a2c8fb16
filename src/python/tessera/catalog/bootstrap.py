"""Wires the catalog together: settings -> pool, cache, outbox relay, service, gRPC server."""

from __future__ import annotations

from contextlib import AsyncExitStack

from catalog.v1 import catalog_pb2, catalog_pb2_grpc
from tessera.catalog import migrations
from tessera.catalog.adapters.cache import RedisProductCache
from tessera.catalog.adapters.postgres import PostgresUnitOfWork
from tessera.catalog.config import PRODUCT_TOPIC, CatalogSettings
from tessera.catalog.entrypoints.grpc_api import CatalogGrpcApi
from tessera.catalog.service_layer import CatalogService
from tessera.kit.cache import CacheAside
from tessera.kit.grpc_server import GrpcServer, GrpcService
from tessera.kit.resources import open_postgres, open_redis, start_grpc_server, start_outbox_relay


async def start_catalog(settings: CatalogSettings, stack: AsyncExitStack) -> GrpcServer:
    """Starts every part of the catalog on `stack` (closed in reverse) and returns the running gRPC server."""
    pool = await open_postgres(settings, stack, migrations.__name__)
    redis = open_redis(settings, stack)
    topic = settings.topic(PRODUCT_TOPIC)
    await start_outbox_relay(settings, stack, pool, topics=[topic], client_id=settings.service_name)

    service = CatalogService(
        uow_factory=lambda: PostgresUnitOfWork(pool, topic=topic, producer=settings.service_name),
        cache=RedisProductCache(CacheAside(redis, "catalog:product", settings.cache_ttl_seconds)),
    )
    api = CatalogGrpcApi(service)
    descriptor = catalog_pb2.DESCRIPTOR.services_by_name["CatalogService"]
    return await start_grpc_server(
        settings,
        stack,
        [GrpcService(descriptor, lambda server: catalog_pb2_grpc.add_CatalogServiceServicer_to_server(api, server))],
    )
