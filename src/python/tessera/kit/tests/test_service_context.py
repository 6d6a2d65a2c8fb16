"""A service reaches other services only at the addresses its registry entry gives it (TESSERA_TARGETS)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack

import pytest
from grpc_health.v1 import health_pb2_grpc

from catalog.v1 import catalog_pb2_grpc
from tessera.kit.config import ClientSettings, ServiceSettings, load_settings
from tessera.kit.dependencies import DependencyChecks
from tessera.kit.resilience import CircuitBreakers
from tessera.kit.service import ServiceContext, UndeclaredCall
from tessera.topology import parse


class _Settings(ServiceSettings, ClientSettings):
    pass


_REGISTRY = parse(
    "services:\n"
    "  catalog: {}\n"
    "  saga: {}\n"
    "  orders: {calls: [catalog]}\n"
    "  gateway: {calls: [orders], platformView: true}\n"
)


def _context(name: str, stack: AsyncExitStack) -> ServiceContext[_Settings]:
    # The environment the local stack, compose and the chart give the service, from the same registry function.
    targets = _REGISTRY.targets(name, lambda other: f"127.0.0.1:{1000 + _REGISTRY.names.index(other)}")
    environ = {"TESSERA_SERVICE_NAME": name, "TESSERA_TARGETS": json.dumps(targets)}
    settings = load_settings(_Settings, environ)
    breakers = CircuitBreakers()
    return ServiceContext(settings, stack, DependencyChecks(name, breakers), breakers)


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
    with pytest.raises(UndeclaredCall, match=r"orders calls 'saga', .* services\.orders\.calls: add it there"):
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
