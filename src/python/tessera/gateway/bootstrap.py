"""Wires the gateway: settings -> gRPC channels to the services -> FastAPI app -> uvicorn, in the kit's runtime."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from contextlib import AsyncExitStack

import uvicorn
from inventory.v1 import inventory_pb2
from orders.v1 import orders_pb2
from payments.v1 import payments_pb2
from readmodels.v1 import readmodels_pb2

from catalog.v1 import catalog_pb2
from tessera.gateway.adapters.backends import Backends
from tessera.gateway.adapters.ratelimit import RateLimiter
from tessera.gateway.adapters.tokens import TokenVerifier
from tessera.gateway.app import create_app
from tessera.gateway.config import GatewaySettings
from tessera.kit.cache import CacheAside
from tessera.kit.faults import FaultInjector
from tessera.kit.grpc_client import create_channel
from tessera.kit.resources import open_channel, open_redis


class _EmbeddedServer(uvicorn.Server):
    """uvicorn without its own signal handling: the kit's runtime owns SIGTERM and stops it in order."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield

    def install_signal_handlers(self) -> None:
        pass


async def start_gateway(settings: GatewaySettings, stack: AsyncExitStack) -> uvicorn.Server:
    catalog = open_channel(
        settings, stack, "catalog", settings.catalog_target, catalog_pb2.DESCRIPTOR.services_by_name["CatalogService"]
    )
    orders = open_channel(
        settings, stack, "orders", settings.orders_target, orders_pb2.DESCRIPTOR.services_by_name["OrdersService"]
    )
    readmodels = open_channel(
        settings,
        stack,
        "readmodels",
        settings.readmodels_target,
        readmodels_pb2.DESCRIPTOR.services_by_name["ReadModelService"],
    )
    inventory = open_channel(
        settings,
        stack,
        "inventory",
        settings.inventory_target,
        inventory_pb2.DESCRIPTOR.services_by_name["InventoryService"],
    )
    payments = open_channel(
        settings,
        stack,
        "payments",
        settings.payments_target,
        payments_pb2.DESCRIPTOR.services_by_name["PaymentsService"],
    )
    # Channels only for the platform health view: no breaker, the report says what is down.
    others = {name: create_channel(target, breaker=None) for name, target in settings.platform_targets.items()}
    for channel in others.values():
        stack.push_async_callback(channel.close)
    cache = CacheAside(open_redis(settings, stack), "gateway-catalog", settings.catalog_fallback_ttl_seconds)
    platform = {
        "catalog": catalog,
        "orders": orders,
        "projections": readmodels,
        "inventory": inventory,
        "payments": payments,
        **others,
    }
    tokens = TokenVerifier(
        settings.auth_issuer, settings.auth_audience, jwks_url=settings.auth_jwks_url, jwks=settings.auth_jwks
    )
    await tokens.refresh()  # the issuer's keys, before the first request; a JWKS that cannot be had stops start-up
    app = create_app(
        Backends(catalog, orders, readmodels, inventory, payments, cache, platform),
        tokens,
        rate_limiter=RateLimiter(settings.redis_url, settings.rate_limit) if settings.rate_limit else None,
        kit_middleware=settings.kit_middleware,
        faults=FaultInjector(settings.fault_percent),
    )
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
