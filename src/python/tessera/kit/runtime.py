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
from typing import TypeVar

from tessera.kit import dependencies
from tessera.kit.config import ServiceSettings, load_settings
from tessera.kit.flags import configure_flags, shutdown_flags
from tessera.kit.logs import configure_logging, get_logger
from tessera.kit.metrics import serve_metrics
from tessera.kit.tracing import configure_tracing, shutdown_tracing

log = get_logger(__name__)

SettingsT = TypeVar("SettingsT", bound=ServiceSettings)


async def run_service(settings: ServiceSettings, start: Callable[[AsyncExitStack], Awaitable[object]]) -> None:
    began = time.monotonic()
    configure_logging(settings.service_name, level=settings.log_level, json=settings.log_json)
    dependencies.checks.service_name = settings.service_name
    if settings.kit_middleware:
        configure_tracing(settings.service_name, otlp_endpoint=settings.otlp_endpoint, environment=settings.environment)
    configure_flags(settings.flags_file, poll_ms=settings.flags_poll_ms)
    if settings.metrics_port is not None:
        port = serve_metrics(settings.metrics_port)
        log.info("metrics endpoint started", port=port)
    stopping = asyncio.Event()
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
    log.info("service stopped")


def serve(settings_type: type[SettingsT], start: Callable[[SettingsT, AsyncExitStack], Awaitable[object]]) -> None:
    """A service's whole `main`: settings from the environment, then run `start` until SIGTERM."""
    settings = load_settings(settings_type)

    async def start_on(stack: AsyncExitStack) -> None:
        await start(settings, stack)

    asyncio.run(run_service(settings, start_on))
