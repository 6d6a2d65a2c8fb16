"""Opening a service's long-lived resources on its AsyncExitStack, the same way in every service's bootstrap.

Each helper registers the matching close on the stack, so a service stops in the reverse order it started.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AsyncExitStack

import asyncpg
import grpc
import redis.asyncio as redis
from google.protobuf.descriptor import ServiceDescriptor
from ops.v1 import dependencies_pb2_grpc

from tessera.kit import db, dependencies, outbox, resilience
from tessera.kit.cache import create_redis
from tessera.kit.config import ClientSettings, KafkaSettings, PostgresSettings, RedisSettings, ServiceSettings
from tessera.kit.faults import FaultInjector
from tessera.kit.grpc_client import create_channel
from tessera.kit.grpc_server import GrpcServer, GrpcService
from tessera.kit.kafka import ConsumerLagMonitor, create_producer, ensure_topics


async def open_postgres(settings: PostgresSettings, stack: AsyncExitStack, *migration_packages: str) -> asyncpg.Pool:
    """A pool, with the kit's tables (outbox, processed events) and the service's migrations applied."""
    pool = await db.create_pool(
        settings.postgres_dsn, min_size=settings.postgres_pool_min, max_size=settings.postgres_pool_max
    )
    stack.push_async_callback(pool.close)
    await db.apply_migrations(pool, outbox.KIT_MIGRATIONS, *migration_packages)
    dependencies.checks.add_postgres(pool)
    return pool


def open_redis(settings: RedisSettings, stack: AsyncExitStack) -> redis.Redis:
    client = create_redis(settings.redis_url)
    stack.push_async_callback(client.aclose)
    dependencies.checks.add_redis(client)
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
    dependencies.checks.add_kafka(settings.kafka_bootstrap)
    relay = outbox.OutboxRelay(pool, lambda: create_producer(settings.kafka_bootstrap, client_id=client_id))
    relay.start()
    stack.push_async_callback(relay.stop)
    return relay


def start_lag_monitor(settings: KafkaSettings, stack: AsyncExitStack, group: str) -> ConsumerLagMonitor:
    """Exports the lag of consumer `group` (a faust app's id) until the stack closes."""
    monitor = ConsumerLagMonitor(settings.kafka_bootstrap, group)
    monitor.start()
    stack.push_async_callback(monitor.stop)
    return monitor


def open_channel(
    settings: ClientSettings, stack: AsyncExitStack, dependency: str, target: str, service: ServiceDescriptor
) -> grpc.aio.Channel:
    """A channel to a dependency with the settings' deadline, retry policy and a breaker named `dependency`."""
    channel = create_channel(
        target,
        dependency=dependency,
        services=[service],
        default_timeout_seconds=settings.call_timeout_seconds,
        retry=resilience.RetryPolicy(max_attempts=settings.retry_max_attempts),
        breaker=resilience.BreakerPolicy(settings.breaker_failure_threshold, settings.breaker_reset_seconds),
        instrumented=settings.kit_middleware,
    )
    stack.push_async_callback(channel.close)
    dependencies.checks.add_grpc(dependency, channel, service.full_name)
    return channel


async def start_grpc_server(
    settings: ServiceSettings, stack: AsyncExitStack, services: Sequence[GrpcService]
) -> GrpcServer:
    """Serves `services`, plus health, reflection and the dependency report; on close: NOT_SERVING, then drain."""
    servicer = dependencies.DependencyHealthServicer(dependencies.checks)
    report = GrpcService(
        dependencies.SERVICE_DESCRIPTOR,
        lambda server: dependencies_pb2_grpc.add_DependencyHealthServiceServicer_to_server(servicer, server),
    )
    server = GrpcServer(
        [*services, report],
        host=settings.grpc_host,
        port=settings.grpc_port,
        observed=settings.kit_middleware,
        faults=FaultInjector(settings.fault_percent),
    )
    await server.start()
    stack.push_async_callback(server.stop, settings.shutdown_grace_seconds)
    return server
