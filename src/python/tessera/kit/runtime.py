"""Runs a service (or several in one process) until SIGTERM/SIGINT, then stops its parts in reverse order of start.

A service's `start(stack)` opens its resources (pools, clients, servers) on the AsyncExitStack; on a signal the
stack unwinds: the gRPC server goes NOT_SERVING and drains first, then background tasks, clients and pools close.
"""

from __future__ import annotations

import asyncio
import contextvars
import signal
import time
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AsyncExitStack
from contextvars import ContextVar
from typing import Any

from opentelemetry.sdk.trace import TracerProvider

from tessera.kit.config import ServiceSettings
from tessera.kit.flags import configure_flags, shutdown_flags
from tessera.kit.logs import configure_logging, get_logger
from tessera.kit.metrics import SERVICE_INFO, serve_metrics
from tessera.kit.scope import ServiceScope, context_of, current_scope
from tessera.kit.tracing import configure_tracing, service_tracer_provider, shutdown_tracing

log = get_logger(__name__)

# How the running service is made to stop with a failure; set by `run_service`, inherited by the tasks its start
# creates.
_stop_with_failure: ContextVar[Callable[[str], None] | None] = ContextVar("stop_with_failure", default=None)


def fail_service(reason: str) -> None:
    """Stops the running service with exit code 1, for a part that cannot recover by itself (a crashed stream
    processor): its supervisor (Kubernetes, the local stack) then sees the failure, where a process left up would
    pass its probes while doing nothing. In a process of several services, the process stops: its supervisor sees
    the failure the same way."""
    stop = _stop_with_failure.get()
    if stop is None:
        raise RuntimeError(f"no running service to stop ({reason})")
    stop(reason)


Start = Callable[[AsyncExitStack], Awaitable[object]]


async def run_service(settings: ServiceSettings, start: Start) -> int:
    """Runs the service until a signal (exit code 0) or until a part calls `fail_service` (exit code 1)."""
    return await run_services([(settings, start)])


async def run_services(services: Sequence[tuple[ServiceSettings, Start]]) -> int:
    """Runs services in this process until a signal (0) or until a part of one calls `fail_service` (1).

    One service uses the process's metrics registry, tracer provider and log identity. Several (the local stack's
    one-process mode) each get a scope (kit.scope): their own registry on their own metrics port, their own tracer
    provider, their name on their log lines; their other parts (checks, breakers, stores) are theirs already, in
    their ServiceContext. What a process has once (log level and format, the flag file, trace export and sampling)
    follows the first service's settings. They start concurrently and stop one by one, the last first.
    """
    began = time.monotonic()
    first = services[0][0]
    together = len(services) > 1
    process_name = PROCESS_OF_SERVICES if together else first.service_name
    configure_logging(process_name, version=first.service_version, level=first.log_level, json=first.log_json)
    if first.kit_middleware:
        configure_tracing(service_tracer_provider(process_name, **_trace_options(first)))
    configure_flags(first.flags_file, poll_ms=first.flags_poll_ms)
    contexts = [_context_for(settings, together) for settings, _ in services]
    stopping = asyncio.Event()
    failures: list[str] = []

    def stop_with_failure(reason: str) -> None:
        log.error("service failed; stopping", reason=reason)
        failures.append(reason)
        stopping.set()

    _stop_with_failure.set(stop_with_failure)
    for context in contexts:
        context.run(_stop_with_failure.set, stop_with_failure)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    stacks = [AsyncExitStack() for _ in services]
    try:
        starts = [
            asyncio.create_task(_start(settings, start, stack, began), context=context)
            for (settings, start), stack, context in zip(services, stacks, contexts, strict=True)
        ]
        started = await asyncio.gather(*starts, return_exceptions=True)
        if errors := [result for result in started if isinstance(result, BaseException)]:
            raise errors[0]
        await stopping.wait()
        log.info("service stopping", services=[settings.service_name for settings, _ in services])
    finally:
        for stack, context in reversed(list(zip(stacks, contexts, strict=True))):
            await asyncio.create_task(stack.aclose(), context=context)
    await shutdown_flags()
    await shutdown_tracing(*(provider for context in contexts if (provider := _provider_in(context)) is not None))
    log.info("service stopped", failed=bool(failures))
    return 1 if failures else 0


# The name a process of several services gives its own log lines and spans (those of no one service).
PROCESS_OF_SERVICES = "tessera"


def _trace_options(settings: ServiceSettings) -> dict[str, Any]:
    return {
        "version": settings.service_version,
        "otlp_endpoint": settings.otlp_endpoint,
        "environment": settings.environment,
        "sample_ratio": settings.trace_sample_ratio,
    }


def _context_for(settings: ServiceSettings, scoped: bool) -> contextvars.Context:
    """The context a service runs in: with its own scope when it shares the process; its metrics endpoint served."""
    if scoped:
        provider = (
            service_tracer_provider(settings.service_name, **_trace_options(settings))
            if settings.kit_middleware
            else None
        )
        context = context_of(ServiceScope(settings.service_name, settings.service_version, tracer_provider=provider))
    else:
        context = contextvars.copy_context()
    context.run(_announce, settings)
    return context


def _announce(settings: ServiceSettings) -> None:
    """The service's identity metric and its metrics endpoint, in its scope's registry (when it has one)."""
    SERVICE_INFO.labels(settings.service_name, settings.service_version).set(1)
    if settings.metrics_port is not None:
        port = serve_metrics(settings.metrics_port)
        log.info("metrics endpoint started", port=port)


def _provider_in(context: contextvars.Context) -> TracerProvider | None:
    scope = context.run(current_scope)
    return None if scope is None else scope.tracer_provider


async def _start(settings: ServiceSettings, start: Start, stack: AsyncExitStack, began: float) -> None:
    await start(stack)
    log.info("service started", startup_seconds=round(time.monotonic() - began, 3))
