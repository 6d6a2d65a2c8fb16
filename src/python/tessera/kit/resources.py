"""Opening a service's long-lived resources on its AsyncExitStack, the same way in every service's bootstrap.

Each helper registers the matching close on the stack, so a service stops in the reverse order it started.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AsyncExitStack

import asyncpg
import redis.asyncio as redis

from tessera.kit import db, outbox
from tessera.kit.cache import create_redis
from tessera.kit.config import KafkaSettings, PostgresSettings, RedisSettings, ServiceSettings
from tessera.kit.grpc_server import GrpcServer, GrpcService
from tessera.kit.kafka import create_producer, ensure_topics


async def open_postgres(settings: PostgresSettings, stack: AsyncExitStack, *migration_packages: str) -> asyncpg.Pool:
    """A pool, with the kit's tables (outbox, processed events) and the service's migrations applied."""
    pool = await db.create_pool(
        settings.postgres_dsn, min_size=settings.postgres_pool_min, max_size=settings.postgres_pool_max
    )
    stack.push_async_callback(pool.close)
    await db.apply_migrations(pool, outbox.KIT_MIGRATIONS, *migration_packages)
    return pool


def open_redis(settings: RedisSettings, stack: AsyncExitStack) -> redis.Redis:
    client = create_redis(settings.redis_url)
    stack.push_async_callback(client.aclose)
    return client


async def start_outbox_relay(
    settings: KafkaSettings, stack: AsyncExitStack, pool: asyncpg.Pool, *, topics: Sequence[str], client_id: str
) -> outbox.OutboxRelay:
    """Declares the service's topics and relays its outbox to them until the stack closes."""
    await ensure_topics(
        settings.kafka_bootstrap,
        list(topics),
        partitions=settings.kafka_partitions,
        replication=settings.kafka_replication,
    )
    producer = create_producer(settings.kafka_bootstrap, client_id=client_id)
    await producer.start()
    stack.push_async_callback(producer.stop)
    relay = outbox.OutboxRelay(pool, producer)
    relay.start()
    stack.push_async_callback(relay.stop)
    return relay


async def start_grpc_server(
    settings: ServiceSettings, stack: AsyncExitStack, services: Sequence[GrpcService]
) -> GrpcServer:
    """Serves `services` (plus health and reflection); on close: NOT_SERVING, then drain within the grace."""
    server = GrpcServer(services, host=settings.grpc_host, port=settings.grpc_port)
    await server.start()
    stack.push_async_callback(server.stop, settings.shutdown_grace_seconds)
    return server
