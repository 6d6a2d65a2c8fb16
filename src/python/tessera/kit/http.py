"""Serving an ASGI app (FastAPI) inside a kit service: uvicorn on the service's loop, stopped in order."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from contextlib import AsyncExitStack
from typing import Any

import uvicorn

from tessera.kit.config import HttpSettings


class _EmbeddedServer(uvicorn.Server):
    """uvicorn without its own signal handling: the kit's runtime owns SIGTERM and stops it in order."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield

    def install_signal_handlers(self) -> None:
        pass


async def serve_http(app: Any, settings: HttpSettings, stack: AsyncExitStack) -> uvicorn.Server:
    """Serves `app` on the settings' host and port until the stack closes; returns once it listens."""
    server = _EmbeddedServer(
        uvicorn.Config(
            app,
            host=settings.http_host,
            port=settings.http_port,
            http="httptools",  # the C parser; h11 (pure Python) was a tenth of the gateway's CPU on reads
            log_config=None,
            access_log=False,
            lifespan="off",
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
