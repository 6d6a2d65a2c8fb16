"""Wires the gateway: settings -> gRPC channels to the services -> FastAPI app -> uvicorn, in the kit's runtime."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from contextlib import AsyncExitStack

import uvicorn

from tessera.gateway.adapters.backends import Backends
from tessera.gateway.app import create_app
from tessera.gateway.config import GatewaySettings
from tessera.kit.grpc_client import create_channel


class _EmbeddedServer(uvicorn.Server):
    """uvicorn without its own signal handling: the kit's runtime owns SIGTERM and stops it in order."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield

    def install_signal_handlers(self) -> None:
        pass


async def start_gateway(settings: GatewaySettings, stack: AsyncExitStack) -> uvicorn.Server:
    channels = [
        create_channel(target, default_timeout_seconds=settings.call_timeout_seconds)
        for target in (settings.catalog_target, settings.orders_target, settings.readmodels_target)
    ]
    for channel in channels:
        stack.push_async_callback(channel.close)
    app = create_app(Backends(*channels))
    server = _EmbeddedServer(
        uvicorn.Config(
            app, host=settings.http_host, port=settings.http_port, log_config=None, access_log=False, lifespan="off"
        )
    )
    task = asyncio.create_task(server.serve(), name="http")

    async def stop() -> None:
        server.should_exit = True
        await task

    stack.push_async_callback(stop)
    while not server.started:
        if task.done():
            task.result()  # re-raises why it could not start (e.g. the port is taken)
        await asyncio.sleep(0.01)
    return server
