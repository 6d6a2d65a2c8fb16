"""Wires the catalog together: settings -> pool, cache, producer, outbox relay, service, gRPC server."""

from __future__ import annotations

from contextlib import AsyncExitStack

from catalog.v1 import catalog_pb2, catalog_pb2_grpc
from tessera.catalog import migrations
from tessera.catalog.adapters.cache import RedisProductCache
from tessera.catalog.adapters.postgres import PostgresUnitOfWork
from tessera.catalog.config import PRODUCT_TOPIC, CatalogSettings
from tessera.catalog.entrypoints.grpc_api import CatalogGrpcApi
from tessera.catalog.service_layer import CatalogService
from tessera.kit import db, outbox
from tessera.kit.cache import CacheAside, create_redis
from tessera.kit.grpc_server import GrpcServer, GrpcService
from tessera.kit.kafka import create_producer, ensure_topics


async def start_catalog(settings: CatalogSettings, stack: AsyncExitStack) -> GrpcServer:
    """Starts every part of the catalog on `stack` (closed in reverse) and returns the running gRPC server."""
    pool = await db.create_pool(
        settings.postgres_dsn, min_size=settings.postgres_pool_min, max_size=settings.postgres_pool_max
    )
    stack.push_async_callback(pool.close)
    await db.apply_migrations(pool, outbox.KIT_MIGRATIONS, migrations.__name__)

    redis = create_redis(settings.redis_url)
    stack.push_async_callback(redis.aclose)

    topic = settings.topic(PRODUCT_TOPIC)
    await ensure_topics(
        settings.kafka_bootstrap, [topic], partitions=settings.kafka_partitions, replication=settings.kafka_replication
    )
    producer = create_producer(settings.kafka_bootstrap, client_id=settings.service_name)
    await producer.start()
    stack.push_async_callback(producer.stop)
    relay = outbox.OutboxRelay(pool, producer)
    relay.start()
    stack.push_async_callback(relay.stop)

    service = CatalogService(
        uow_factory=lambda: PostgresUnitOfWork(pool, topic=topic, producer=settings.service_name),
        cache=RedisProductCache(CacheAside(redis, "catalog:product", settings.cache_ttl_seconds)),
    )
    api = CatalogGrpcApi(service)
    server = GrpcServer(
        [
            GrpcService(
                catalog_pb2.DESCRIPTOR.services_by_name["CatalogService"],
                lambda s: catalog_pb2_grpc.add_CatalogServiceServicer_to_server(api, s),
            )
        ],
        host=settings.grpc_host,
        port=settings.grpc_port,
    )
    await server.start()
    stack.push_async_callback(server.stop, settings.shutdown_grace_seconds)
    return server
