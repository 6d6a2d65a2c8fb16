"""Which service the running code belongs to, for the kit's parts whose libraries keep one per process.

prometheus-client has one default registry, OpenTelemetry one global tracer provider, logging one configuration. A
process that runs one service (each service's own `main`, every pod) uses them as they are and has no scope. A
process that runs several (`runtime.run_services`, the local stack's `--one-process`) gives each service a scope: its
own metrics registry (served on its own metrics port), its own tracer provider (its spans carry its
`service.name`), its name on its log lines. The scope is a context variable, so it follows every asyncio task the
service starts: its gRPC and HTTP handlers, its consumers, its background work. (Not a thread a library starts
with its own loop, such as faust's Kafka consumer thread: its log lines carry the process's name, `tessera`.)
"""

from __future__ import annotations

import contextvars
from dataclasses import dataclass, field

from opentelemetry.sdk.trace import TracerProvider
from prometheus_client import CollectorRegistry, GCCollector, PlatformCollector, ProcessCollector


def _registry_with_process_metrics() -> CollectorRegistry:
    # The process_*/python_* series a scrape of a single-service process has (here the shared process's).
    registry = CollectorRegistry(auto_describe=True)
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    GCCollector(registry=registry)
    return registry


@dataclass(frozen=True, eq=False)
class ServiceScope:
    name: str
    version: str = "dev"
    registry: CollectorRegistry = field(default_factory=_registry_with_process_metrics)
    tracer_provider: TracerProvider | None = None  # None: the process's provider


_current: contextvars.ContextVar[ServiceScope | None] = contextvars.ContextVar("tessera_service_scope", default=None)


def current_scope() -> ServiceScope | None:
    """The scope of the service whose code runs, or None in a process of one service."""
    return _current.get()


def context_of(scope: ServiceScope) -> contextvars.Context:
    """A copy of the current context in which `scope` is current: run a service's start and stop in it
    (`asyncio.create_task(..., context=...)`), and every task they create inherits the scope."""
    context = contextvars.copy_context()
    context.run(_current.set, scope)
    return context
