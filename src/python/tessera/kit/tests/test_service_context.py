"""A service reaches other services only at the addresses its registry entry gives it (TESSERA_TARGETS), reads
only the topics it declares, and its settings carry the stores its entry lists."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack

import pytest
from grpc_health.v1 import health_pb2_grpc

from catalog.v1 import catalog_pb2_grpc
from tessera.kit.config import ClientSettings, KafkaSettings, PostgresSettings, ServiceSettings, load_settings
from tessera.kit.dependencies import DependencyChecks
from tessera.kit.resilience import CircuitBreakers
from tessera.kit.service import ServiceContext, ServiceSpec, UndeclaredDependency, start
from tessera.topology import parse


class _Settings(ServiceSettings, ClientSettings, KafkaSettings):
    pass


_REGISTRY = parse(
    "services:\n"
    "  catalog: {stores: [kafka], publishes: catalog.product.v1}\n"
    "  saga: {stores: [kafka], consumes: [orders]}\n"
    "  orders: {calls: [catalog], stores: [kafka], publishes: orders.order.v1}\n"
    "  gateway: {calls: [orders], platformView: true}\n"
)


def _context(name: str, stack: AsyncExitStack) -> ServiceContext[_Settings]:
    # The environment the local stack, compose and the chart give the service, from the same registry function.
    targets = _REGISTRY.targets(name, lambda other: f"127.0.0.1:{1000 + _REGISTRY.names.index(other)}")
    environ = {
        "TESSERA_SERVICE_NAME": name,
        "TESSERA_TARGETS": json.dumps(targets),
        "TESSERA_KAFKA_BOOTSTRAP": "127.0.0.1:9",
        "TESSERA_KAFKA_TOPIC_PREFIX": "t-",
    }
    settings = load_settings(_Settings, environ)
    breakers = CircuitBreakers()
    return ServiceContext(settings, _REGISTRY, stack, DependencyChecks(name, breakers), breakers)


@pytest.fixture
async def stack() -> AsyncIterator[AsyncExitStack]:
    async with AsyncExitStack() as stack:
        yield stack


async def test_a_declared_call_gets_a_channel_and_a_check_in_the_dependency_report(stack: AsyncExitStack) -> None:
    ctx = _context("orders", stack)
    assert ctx.settings.targets == {"catalog": "127.0.0.1:1000"}
    ctx.channel("catalog", catalog_pb2_grpc.CatalogServiceStub)
    report = await ctx.checks.report(timeout_seconds=0.5)
    (catalog,) = report.dependencies  # nothing listens at its address here: reported down, with its breaker
    assert (catalog.name, catalog.kind, catalog.healthy, catalog.breaker) == ("catalog", "grpc", False, "closed")


async def test_a_call_the_registry_does_not_declare_fails_naming_the_line_to_add(stack: AsyncExitStack) -> None:
    ctx = _context("orders", stack)
    with pytest.raises(UndeclaredDependency, match=r"orders calls 'saga', .* services\.orders\.calls: add it there"):
        ctx.channel("saga", health_pb2_grpc.HealthStub)


async def test_the_platform_view_reaches_every_other_service_and_only_it_does(stack: AsyncExitStack) -> None:
    gateway = _context("gateway", stack)
    called = gateway.channel("orders", health_pb2_grpc.HealthStub)
    view = gateway.platform_channels()
    assert set(view) == {"orders", "catalog", "saga"} and view["orders"] is called
    # The view's own channels are not dependencies of the gateway: its report lists only what it calls.
    report = await gateway.checks.report(timeout_seconds=0.5)
    assert [d.name for d in report.dependencies] == ["orders"]
    orders = _context("orders", stack)
    assert set(orders.platform_channels()) == {"catalog"}


async def test_a_service_reads_its_own_topic_and_the_topics_it_consumes_as_its_deployment_names_them(
    stack: AsyncExitStack,
) -> None:
    assert _context("orders", stack).topic_of("orders") == "t-orders.order.v1"
    assert _context("saga", stack).topic_of("orders") == "t-orders.order.v1"
    with pytest.raises(UndeclaredDependency, match=r"saga reads the topic of 'catalog'.* services\.saga\.consumes"):
        _context("saga", stack).topic_of("catalog")


def test_the_registry_refuses_to_consume_a_service_that_publishes_nothing() -> None:
    with pytest.raises(ValueError, match=r"saga consumes \['gateway'\], which publish no topic"):
        parse("services:\n  gateway: {}\n  saga: {stores: [kafka], consumes: [gateway]}\n")


class _CatalogWithoutRedis(ServiceSettings, PostgresSettings, KafkaSettings):
    service_name: str = "catalog"


async def _no_servicers(ctx: ServiceContext[_CatalogWithoutRedis]) -> list[object]:
    return []


async def test_settings_that_lack_a_store_the_registry_lists_stop_the_start_before_anything_opens(
    stack: AsyncExitStack,
) -> None:
    """Catalog's entry in services.yaml lists redis; settings without RedisSettings fail at once, naming both."""
    settings = _CatalogWithoutRedis(postgres_dsn="postgresql://nowhere.invalid/none", kafka_bootstrap="nowhere:1")
    with pytest.raises(UndeclaredDependency, match=r"lists redis in services\.catalog\.stores, but .* lacks Redis"):
        await start(ServiceSpec(_CatalogWithoutRedis, _no_servicers), settings, stack)
