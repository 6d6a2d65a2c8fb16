"""Two services in one process keep their own metrics, spans, log names and settings (kit.scope)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client import REGISTRY, CollectorRegistry

from tessera.kit import logs
from tessera.kit.config import ClientSettings, ServiceSettings, load_settings
from tessera.kit.metrics import Counter, Gauge
from tessera.kit.scope import ServiceScope, context_of, current_scope
from tessera.kit.tracing import ScopedTracerProvider

RECORDED = Counter("scope_test_recorded_total", "Things recorded, by kind.", ["kind"])
LEVEL = Gauge("scope_test_level", "A level.")


def _value(registry: CollectorRegistry, name: str, labels: dict[str, str] | None = None) -> float | None:
    return registry.get_sample_value(name, labels or {})


async def test_each_service_records_in_its_own_registry_and_a_lone_service_in_the_default_one() -> None:
    orders, saga = ServiceScope("orders"), ServiceScope("saga")

    async def record(times: int, level: float) -> None:
        for _ in range(times):
            RECORDED.labels("thing").inc()
        LEVEL.set(level)

    before = _value(REGISTRY, "scope_test_recorded_total", {"kind": "thing"}) or 0.0
    await asyncio.gather(
        asyncio.create_task(record(2, 7), context=context_of(orders)),
        asyncio.create_task(record(5, 3), context=context_of(saga)),
    )
    assert _value(orders.registry, "scope_test_recorded_total", {"kind": "thing"}) == 2
    assert _value(saga.registry, "scope_test_recorded_total", {"kind": "thing"}) == 5
    assert (_value(orders.registry, "scope_test_level"), _value(saga.registry, "scope_test_level")) == (7, 3)
    assert (
        _value(REGISTRY, "scope_test_recorded_total", {"kind": "thing"}) or 0.0
    ) == before  # no scope's count leaked
    await record(1, 1)  # no scope: a process of one service
    assert _value(REGISTRY, "scope_test_recorded_total", {"kind": "thing"}) == before + 1
    # Each service's /metrics has the process's own series too, as a lone service's would.
    assert _value(orders.registry, "process_cpu_seconds_total") is not None


async def test_tasks_a_service_starts_inherit_its_scope() -> None:
    async def read() -> ServiceScope | None:
        return current_scope()

    async def nested() -> str | None:
        scope = await asyncio.create_task(read())  # a task of a task of the service
        return None if scope is None else scope.name

    assert await asyncio.create_task(nested(), context=context_of(ServiceScope("inventory"))) == "inventory"
    assert current_scope() is None


def _provider(name: str) -> tuple[TracerProvider, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": name}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider, exporter


def test_a_span_is_recorded_by_the_provider_of_the_service_whose_code_starts_it() -> None:
    (process, process_spans), (orders, orders_spans), (saga, saga_spans) = (
        _provider(name) for name in ("tessera", "orders", "saga")
    )
    tracer = ScopedTracerProvider(process).get_tracer("an.instrumentation")  # fetched once, as instrumentations do

    def start(name: str) -> None:
        with tracer.start_as_current_span(name):
            pass

    context_of(ServiceScope("orders", tracer_provider=orders)).run(start, "PlaceOrder")
    context_of(ServiceScope("saga", tracer_provider=saga)).run(start, "process")
    start("outside")
    assert [span.name for span in orders_spans.get_finished_spans()] == ["PlaceOrder"]
    assert [span.name for span in saga_spans.get_finished_spans()] == ["process"]
    assert [span.name for span in process_spans.get_finished_spans()] == ["outside"]
    assert orders_spans.get_finished_spans()[0].resource.attributes["service.name"] == "orders"


def test_a_log_line_names_the_service_whose_code_logs() -> None:
    add_service = logs._add_service("tessera", "dev")
    in_orders: Any = context_of(ServiceScope("orders", "1.4.2")).run(add_service, None, "info", {"event": "x"})
    assert (in_orders["service"], in_orders["version"]) == ("orders", "1.4.2")
    outside: Any = add_service(None, "info", {"event": "y"})
    assert outside["service"] == "tessera"


class _Settings(ServiceSettings, ClientSettings):
    pass


def test_each_service_reads_its_settings_from_its_own_variables() -> None:
    environ = {"TESSERA_SERVICE_NAME": "orders", "TESSERA_GRPC_PORT": "5001", "TESSERA_TARGETS": '{"catalog": "h:1"}'}
    settings = load_settings(_Settings, environ)
    assert (settings.service_name, settings.grpc_port, settings.targets) == ("orders", 5001, {"catalog": "h:1"})
    assert isinstance(settings, _Settings) and type(settings).__name__ == "_Settings"
    with pytest.raises(SystemExit, match="TESSERA_GRPC_PORT"):
        load_settings(_Settings, {"TESSERA_SERVICE_NAME": "orders", "TESSERA_GRPC_PORT": "many"})
