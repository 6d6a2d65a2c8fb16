"""Runs a service until SIGTERM/SIGINT, then stops its parts in reverse order of start.

A service's `start(stack)` opens its resources (pools, clients, servers) on the AsyncExitStack; on a signal the
stack unwinds: the gRPC server goes NOT_SERVING and drains first, then background tasks, clients and pools close.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from contextvars import ContextVar

from tessera.kit.config import ServiceSettings
from tessera.kit.flags import configure_flags, shutdown_flags
from tessera.kit.logs import configure_logging, get_logger
from tessera.kit.metrics import SERVICE_INFO, serve_metrics
from tessera.kit.tracing import configure_tracing, shutdown_tracing

log = get_logger(__name__)

# How the running service is made to stop with a failure; set by `run_service`, inherited by the tasks its start
# creates.
_stop_with_failure: ContextVar[Callable[[str], None] | None] = ContextVar("stop_with_failure", default=None)


def fail_service(reason: str) -> None:
    """Stops the running service with exit code 1, for a part that cannot recover by itself (a crashed stream
    processor): its supervisor (Kubernetes, the local stack) then sees the failure, where a process left up would
    pass its probes while doing nothing."""
    stop = _stop_with_failure.get()
    if stop is None:
        raise RuntimeError(f"no running service to stop ({reason})")
    stop(reason)


async def run_service(settings: ServiceSettings, start: Callable[[AsyncExitStack], Awaitable[object]]) -> int:
    """Runs the service until a signal (exit code 0) or until a part calls `fail_service` (exit code 1)."""
    began = time.monotonic()
    configure_logging(
        settings.service_name, version=settings.service_version, level=settings.log_level, json=settings.log_json
    )
    SERVICE_INFO.labels(service=settings.service_name, version=settings.service_version).set(1)
    if settings.kit_middleware:
        configure_tracing(
            settings.service_name,
            version=settings.service_version,
            otlp_endpoint=settings.otlp_endpoint,
            environment=settings.environment,
            sample_ratio=settings.trace_sample_ratio,
        )
    configure_flags(settings.flags_file, poll_ms=settings.flags_poll_ms)
    if settings.metrics_port is not None:
        port = serve_metrics(settings.metrics_port)
        log.info("metrics endpoint started", port=port)
    stopping = asyncio.Event()
    failures: list[str] = []

    def stop_with_failure(reason: str) -> None:
        log.error("service failed; stopping", reason=reason)
        failures.append(reason)
        stopping.set()

    _stop_with_failure.set(stop_with_failure)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    async with AsyncExitStack() as stack:
        await start(stack)
        log.info("service started", startup_seconds=round(time.monotonic() - began, 3))
        await stopping.wait()
        log.info("service stopping")
    await shutdown_flags()
    await shutdown_tracing()
    log.info("service stopped", failed=bool(failures))
    return 1 if failures else 0
