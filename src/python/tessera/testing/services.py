"""Serving one service in-process for its integration tests, the way its `main` would, on a free port."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import asyncpg
import grpc

from tessera.kit.config import PostgresSettings
from tessera.kit.service import ServiceSpec, start

SettingsT = TypeVar("SettingsT", bound=PostgresSettings)


@dataclass
class Served(Generic[SettingsT]):
    channel: grpc.aio.Channel  # to the service's gRPC server
    db: asyncpg.Connection  # to its own database, to check what it wrote
    settings: SettingsT
    stack: AsyncExitStack  # closes with the service; register more clean-ups on it


@asynccontextmanager
async def serving(spec: ServiceSpec[Any], settings: SettingsT) -> AsyncIterator[Served[SettingsT]]:
    """Starts the service with `settings` (use grpc_port=0), yields what a test needs, stops it afterwards."""
    async with AsyncExitStack() as stack:
        server = (await start(spec, settings, stack)).grpc
        channel = grpc.aio.insecure_channel(f"127.0.0.1:{server.port}")
        stack.push_async_callback(channel.close)
        db = await asyncpg.connect(settings.postgres_dsn)
        stack.push_async_callback(db.close)
        yield Served(channel, db, settings, stack)
