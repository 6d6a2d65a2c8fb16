"""Prometheus metrics shared by every service, and the /metrics endpoint.

Metric names follow the conventions of go-grpc-prometheus / the Prometheus client libraries, so common
dashboards and alert rules apply unchanged. Each service serves its own registry on `metrics_port`: in a process of
one service, prometheus-client's default registry; in a process of several, the registry of its scope (kit.scope).
Declare a metric here (or in a service) with these `Counter`/`Gauge`/`Histogram`, and it is recorded in the
registry of the service whose code runs.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

import prometheus_client
from prometheus_client import REGISTRY, CollectorRegistry, start_http_server
from prometheus_client.metrics import MetricWrapperBase

from tessera.kit.scope import current_scope

MetricT = TypeVar("MetricT", bound=MetricWrapperBase)


class _PerService(Generic[MetricT]):
    """One metric, declared once, created in each service's registry on first use there. prometheus-client binds a
    metric to one registry at creation; this picks the registry by scope, so services sharing a process (and
    recording through the same kit code) keep their own series."""

    def __init__(self, create: Callable[[CollectorRegistry], MetricT]) -> None:
        self._create = create
        self._default = create(REGISTRY)
        self._by_registry: weakref.WeakKeyDictionary[CollectorRegistry, MetricT] = weakref.WeakKeyDictionary()

    def here(self) -> MetricT:
        """The metric of the service whose code runs."""
        scope = current_scope()
        if scope is None:
            return self._default
        metric = self._by_registry.get(scope.registry)
        if metric is None:
            metric = self._by_registry[scope.registry] = self._create(scope.registry)
        return metric

    def labels(self, *values: str, **by_name: str) -> MetricT:
        return self.here().labels(*values, **by_name)


class Counter(_PerService[prometheus_client.Counter]):
    def __init__(self, name: str, documentation: str, labelnames: Sequence[str] = ()) -> None:
        super().__init__(lambda registry: prometheus_client.Counter(name, documentation, labelnames, registry=registry))


class Gauge(_PerService[prometheus_client.Gauge]):
    def __init__(self, name: str, documentation: str, labelnames: Sequence[str] = ()) -> None:
        super().__init__(lambda registry: prometheus_client.Gauge(name, documentation, labelnames, registry=registry))

    def set(self, value: float) -> None:
        self.here().set(value)


class Histogram(_PerService[prometheus_client.Histogram]):
    def __init__(
        self,
        name: str,
        documentation: str,
        labelnames: Sequence[str] = (),
        buckets: Sequence[float] = prometheus_client.Histogram.DEFAULT_BUCKETS,
    ) -> None:
        super().__init__(
            lambda registry: prometheus_client.Histogram(
                name, documentation, labelnames, registry=registry, buckets=buckets
            )
        )


# Buckets from 1 ms to 10 s: service calls here are mostly single-digit milliseconds.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

GRPC_SERVER_STARTED = Counter(
    "grpc_server_started_total", "RPCs started on the server.", ["grpc_service", "grpc_method"]
)
GRPC_SERVER_HANDLED = Counter(
    "grpc_server_handled_total",
    "RPCs completed on the server, by status code.",
    ["grpc_service", "grpc_method", "grpc_code"],
)
GRPC_SERVER_HANDLING_SECONDS = Histogram(
    "grpc_server_handling_seconds",
    "Time to handle an RPC on the server.",
    ["grpc_service", "grpc_method"],
    buckets=LATENCY_BUCKETS,
)
CACHE_REQUESTS = Counter("cache_requests_total", "Cache look-ups, by result.", ["cache", "result"])
OUTBOX_PUBLISHED = Counter("outbox_published_total", "Events relayed from the outbox to Kafka.", ["topic"])
OUTBOX_BACKLOG = Gauge("outbox_backlog", "Events written to the outbox and not yet acknowledged by Kafka.")
EVENTS_CONSUMED = Counter(
    "events_consumed_total",
    "Events handled by a consumer, by outcome.",
    ["consumer", "event_type", "outcome"],
)

SERVICE_INFO = Gauge("service_info", "Always 1: the service and the version (release) it runs.", ["service", "version"])

KAFKA_CONSUMER_LAG = Gauge(
    "kafka_consumer_lag", "Messages a consumer group has not committed yet.", ["group", "topic", "partition"]
)


def current_registry() -> CollectorRegistry:
    """The registry a /metrics endpoint of the service whose code runs serves."""
    scope = current_scope()
    return REGISTRY if scope is None else scope.registry


def serve_metrics(port: int, host: str = "0.0.0.0") -> int:
    """Starts the /metrics HTTP endpoint of the current service in a background thread; returns the bound port."""
    server, _ = start_http_server(port, addr=host, registry=current_registry())
    return int(server.server_port)
