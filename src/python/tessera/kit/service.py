"""A service, declared: its registry entry says what it is, its bootstrap how its parts are put together.

The registry (helm/tessera/services.yaml, tessera.topology) says what a service stores, the topic it publishes,
the services whose topics it reads and calls, and whether it serves HTTP. Its bootstrap declares a `ServiceSpec`:
its settings class (which includes the settings of the same stores: checked at start), its data migrations, and
`wire`, which puts its adapters, use cases and servicers together. Its main is `run(SPEC)`. Every service starts
in the same order:

  1. its database, if it stores in postgres, migrated with the SQL files of its package's `migrations` (by
     convention: tessera.<name>.migrations);
  2. the topics it publishes and consumes;
  3. its data migrations (rewriting what it stored, before anything reads it);
  4. `wire`;
  5. the relay of its outbox, if it publishes;
  6. its gRPC server: the servicers, health, reflection and the dependency report (none for a service that
     serves only HTTP: its probes and dependency report are HTTP).

On SIGTERM it all stops in reverse order. Everything a service owns at run time (its checks, its breakers, its
stores) lives in its `ServiceContext`, never in a module global, so two services can run in one process without
sharing them.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import asyncpg
import grpc
import redis.asyncio as redis
import uvloop
from pymongo.asynchronous.database import AsyncDatabase

from tessera.kit import db, outbox
from tessera.kit.cache import create_redis
from tessera.kit.config import (
    ClientSettings,
    HttpSettings,
    KafkaSettings,
    MongoSettings,
    PostgresSettings,
    RedisSettings,
    ServiceSettings,
    load_settings,
)
from tessera.kit.dependencies import DependencyChecks, DependencyHealthServicer
from tessera.kit.documents import Document, create_mongo
from tessera.kit.faults import FaultInjector
from tessera.kit.generated import service_descriptor
from tessera.kit.grpc_client import create_channel
from tessera.kit.grpc_server import GrpcServer, GrpcService
from tessera.kit.kafka import ConsumerLagMonitor, create_producer, ensure_topics
from tessera.kit.resilience import BreakerPolicy, CircuitBreakers, RetryPolicy
from tessera.kit.runtime import run_services
from tessera.kit.tasks import cancel_and_wait
from tessera.topology import REGISTRY_FILE, Registry, Service, Store, registry

if TYPE_CHECKING:
    import faust

SettingsT = TypeVar("SettingsT", bound=ServiceSettings)


@dataclass
class ServiceContext(Generic[SettingsT]):
    """One running service's own parts, handed to its `wire`. What it opens closes with the service."""

    settings: SettingsT
    platform: Registry  # the registry: its entry, and the topics of the services it consumes
    stack: AsyncExitStack
    checks: DependencyChecks
    breakers: CircuitBreakers
    _pool: asyncpg.Pool | None = None
    _redis: redis.Redis | None = None
    _documents: AsyncDatabase[Document] | None = None
    _channels: dict[str, grpc.aio.Channel] = field(default_factory=dict)

    @property
    def entry(self) -> Service:
        """Its registry entry."""
        return self.platform[self.settings.service_name]

    @property
    def pool(self) -> asyncpg.Pool:
        """The service's database pool, migrated."""
        if self._pool is None:
            raise RuntimeError(f"{self.settings.service_name} has no database: its settings lack PostgresSettings")
        return self._pool

    async def open_database(self, migrations: str) -> None:
        """Opens the service's database pool (with its health check) and applies the kit's migrations and the
        SQL files of the package `migrations`."""
        postgres = _require(self.settings, PostgresSettings, "a database")
        pool = await db.create_pool(
            postgres.postgres_dsn, min_size=postgres.postgres_pool_min, max_size=postgres.postgres_pool_max
        )
        self.stack.push_async_callback(pool.close)
        await db.apply_migrations(pool, outbox.KIT_MIGRATIONS, migrations)
        self.checks.add_postgres(pool)
        self._pool = pool

    @property
    def documents(self) -> AsyncDatabase[Document]:
        """The service's database on the document store (opened on first use, with its health check)."""
        if self._documents is None:
            settings = _require(self.settings, MongoSettings, "a document store")
            client = create_mongo(settings.mongo_url, app_name=self.settings.service_name)
            self.stack.push_async_callback(client.close)
            self.checks.add_mongo(client)
            self._documents = client[settings.mongo_database]
        return self._documents

    @property
    def redis(self) -> redis.Redis:
        """A Redis client (opened on first use, with its health check)."""
        if self._redis is None:
            settings = _require(self.settings, RedisSettings, "Redis")
            self._redis = create_redis(settings.redis_url)
            self.stack.push_async_callback(self._redis.aclose)
            self.checks.add_redis(self._redis)
        return self._redis

    def topic_of(self, service: str) -> str:
        """The topic `service` publishes (this service's own, or one its registry entry `consumes`), as this
        deployment spells it (with its prefix). Any other stops the start."""
        if service != self.entry.name and service not in self.entry.consumes:
            raise UndeclaredDependency(
                f"{self.entry.name} reads the topic of {service!r}, but the registry ({REGISTRY_FILE}) does not list"
                f" it in services.{self.entry.name}.consumes"
            )
        return _require(self.settings, KafkaSettings, "Kafka").topic(self.platform.topic_of(service))

    def channel(
        self, callee: str, stub: type, *, interceptors: Sequence[grpc.aio.ClientInterceptor] = ()
    ) -> grpc.aio.Channel:
        """A channel to the service `callee` (`stub`: its generated `<Name>Stub` class), at its address in the
        settings' targets: the settings' deadline, retries of its idempotent methods, this service's breaker named
        `callee`, a check in the dependency report, then the caller's own `interceptors`. A callee the registry
        does not list stops the start."""
        settings = _require(self.settings, ClientSettings, "calls to other services")
        service = service_descriptor(stub)
        channel = create_channel(
            _address_of(self.settings.service_name, settings, callee),
            dependency=callee,
            services=[service],
            default_timeout_seconds=settings.call_timeout_seconds,
            retry=RetryPolicy(max_attempts=settings.retry_max_attempts),
            breaker=BreakerPolicy(settings.breaker_failure_threshold, settings.breaker_reset_seconds),
            breakers=self.breakers,
            instrumented=settings.kit_middleware,
            outer=interceptors,
        )
        self.stack.push_async_callback(channel.close)
        self.checks.add_grpc(callee, channel, service.full_name)
        self._channels[callee] = channel
        return channel

    def platform_channels(self) -> dict[str, grpc.aio.Channel]:
        """A channel to every service in the targets, for the platform health view (the registry's
        `platformView`): the ones `channel` opened, and to the services not called, plain ones (no breaker: the
        view reports what is down)."""
        settings = _require(self.settings, ClientSettings, "the platform view")
        for name in settings.targets.keys() - self._channels.keys():
            channel = create_channel(_address_of(self.settings.service_name, settings, name), breaker=None)
            self.stack.push_async_callback(channel.close)
            self._channels[name] = channel
        return dict(self._channels)

    def background(self, work: Coroutine[Any, Any, None], name: str) -> None:
        """Runs `work` until the service stops (then cancels it)."""
        task = asyncio.create_task(work, name=name)
        self.stack.push_async_callback(cancel_and_wait, task)

    async def serve_http(self, app: Any) -> None:
        """Serves an ASGI app (kit.http) on the settings' HTTP port until the service stops."""
        from tessera.kit.http import serve_http  # uvicorn loads only in the services that serve HTTP

        await serve_http(app, _require(self.settings, HttpSettings, "HTTP"), self.stack)

    async def stream(self, app: faust.App) -> None:
        """Runs a stream processor (kit.streams) for the service's lifetime, exporting its consumer lag."""
        from tessera.kit.streams import start_stream_app  # faust loads only in the stream processors

        settings = _require(self.settings, KafkaSettings, "stream processing")
        self.checks.add_kafka(settings.kafka_bootstrap)
        await start_stream_app(app, self.stack)
        monitor = ConsumerLagMonitor(settings.kafka_bootstrap, app.conf.id)
        monitor.start()
        self.stack.push_async_callback(monitor.stop)


# What `wire` returns: the servicers to serve (each a subclass of a generated *Servicer class).
Wire = Callable[[ServiceContext[SettingsT]], Awaitable[Sequence[object]]]


# A data migration: rewrites what the service stored (e.g. upcasts stored events), after its schema's.
DataMigration = Callable[[ServiceContext[SettingsT]], Awaitable[None]]


@dataclass(frozen=True)
class ServiceSpec(Generic[SettingsT]):
    """What a service's code adds to its registry entry."""

    settings: type[SettingsT]
    wire: Wire[SettingsT]
    data_migrations: Sequence[DataMigration[SettingsT]] = ()

    @property
    def sql_migrations(self) -> str:
        """The package of its NNNN_*.sql files: `migrations` beside its bootstrap (where `wire` is)."""
        return f"{self.wire.__module__.rpartition('.')[0]}.migrations"


@dataclass(frozen=True)
class Started(Generic[SettingsT]):
    context: ServiceContext[SettingsT]
    server: GrpcServer | None  # None for a service that serves only HTTP

    @property
    def grpc(self) -> GrpcServer:
        if self.server is None:
            raise RuntimeError(f"{self.context.settings.service_name} serves no gRPC")
        return self.server


async def start(spec: ServiceSpec[SettingsT], settings: SettingsT, stack: AsyncExitStack) -> Started[SettingsT]:
    """Starts every part of the service on `stack` (closed in reverse order) and returns them."""
    platform = registry()
    entry = platform[settings.service_name]
    _check_stores(entry, settings)
    breakers = CircuitBreakers()
    context = ServiceContext(settings, platform, stack, DependencyChecks(settings.service_name, breakers), breakers)
    if entry.uses("postgres"):
        await context.open_database(spec.sql_migrations)
    topics = [context.topic_of(name) for name in ([entry.name] if entry.publishes else []) + list(entry.consumes)]
    if topics:
        kafka = _require(settings, KafkaSettings, "topics")
        await ensure_topics(
            kafka.kafka_bootstrap, topics, partitions=kafka.kafka_partitions, replication=kafka.kafka_replication
        )
        context.checks.add_kafka(kafka.kafka_bootstrap)
    for migrate in spec.data_migrations:
        await migrate(context)
    servicers = await spec.wire(context)
    _check_api(entry, servicers)
    if entry.publishes:
        kafka = _require(settings, KafkaSettings, "an outbox")
        relay = outbox.OutboxRelay(
            context.pool, lambda: create_producer(kafka.kafka_bootstrap, client_id=settings.service_name)
        )
        relay.start()
        stack.push_async_callback(relay.stop)
    if entry.http and not entry.grpc_api:
        return Started(context, None)  # its probes and dependency report are HTTP; a gRPC server would only idle
    report = DependencyHealthServicer(context.checks)
    server = GrpcServer(
        [*(GrpcService.of(servicer) for servicer in servicers), GrpcService.of(report)],
        host=settings.grpc_host,
        port=settings.grpc_port,
        observed=settings.kit_middleware,
        faults=FaultInjector(settings.fault_percent),
    )
    await server.start()
    stack.push_async_callback(server.stop, settings.shutdown_grace_seconds)
    return Started(context, server)


def run(spec: ServiceSpec[Any]) -> None:
    """A service's whole `main`: settings from the environment, then the service until SIGTERM."""
    run_in_one_process([(spec, load_settings(spec.settings))])


def run_in_one_process(services: Sequence[tuple[ServiceSpec[Any], ServiceSettings]]) -> None:
    """Runs the services, each with its settings, in this process until SIGTERM; exits with their exit code. Each
    keeps its own servers, ports, stores, checks, breakers and (when there are several) metrics, spans and log name:
    see runtime.run_services."""

    def starter(spec: ServiceSpec[Any], settings: ServiceSettings) -> Callable[[AsyncExitStack], Awaitable[object]]:
        return lambda stack: start(spec, settings, stack)

    # On libuv's loop: the capacity benchmark measured 13 % less CPU per order on it than on asyncio's own loop
    # (grpc.aio, asyncpg, aiokafka and faust all run on any asyncio loop).
    sys.exit(uvloop.run(run_services([(settings, starter(spec, settings)) for spec, settings in services])))


T = TypeVar("T")


def _require(settings: ServiceSettings, kind: type[T], what: str) -> T:
    if not isinstance(settings, kind):
        raise TypeError(f"{type(settings).__name__} must include {kind.__name__} for {what}")
    return settings


class UndeclaredDependency(RuntimeError):
    """A service uses what its registry entry does not declare: a service it calls, a topic it reads, a store."""


# The settings each store needs, so the registry's `stores` and the settings class cannot disagree.
_STORE_SETTINGS: dict[Store, type] = {
    "postgres": PostgresSettings,
    "redis": RedisSettings,
    "kafka": KafkaSettings,
    "mongo": MongoSettings,
}


def _check_stores(entry: Service, settings: ServiceSettings) -> None:
    for store, kind in _STORE_SETTINGS.items():
        if entry.uses(store) != isinstance(settings, kind):
            listed = "lists" if entry.uses(store) else "does not list"
            raise UndeclaredDependency(
                f"the registry ({REGISTRY_FILE}) {listed} {store} in services.{entry.name}.stores, but"
                f" {type(settings).__name__} {'lacks' if entry.uses(store) else 'includes'} {kind.__name__}"
            )


def _check_api(entry: Service, servicers: Sequence[object]) -> None:
    served = {GrpcService.of(servicer).descriptor.full_name for servicer in servicers}
    if entry.grpc_api and entry.grpc_api not in served:
        raise UndeclaredDependency(
            f"the registry ({REGISTRY_FILE}) says {entry.name} serves {entry.grpc_api}, but its wire returned"
            f" {sorted(served) or 'no servicer'}"
        )


def _address_of(caller: str, settings: ClientSettings, callee: str) -> str:
    try:
        return settings.targets[callee]
    except KeyError:
        raise UndeclaredDependency(
            f"{caller} calls {callee!r}, but the registry (helm/tessera/services.yaml) does not list it in"
            f" services.{caller}.calls: add it there (TESSERA_TARGETS holds {sorted(settings.targets) or 'none'})"
        ) from None
