"""The gateway, declared: its settings, and how its parts are put together (it serves HTTP, not gRPC)."""

from __future__ import annotations

from collections.abc import Sequence

from inventory.v1 import inventory_pb2_grpc
from orders.v1 import orders_pb2_grpc
from payments.v1 import payments_pb2_grpc
from readmodels.v1 import readmodels_pb2_grpc

from catalog.v1 import catalog_pb2_grpc
from tessera.gateway.adapters.backends import Backends
from tessera.gateway.adapters.ratelimit import RateLimiter
from tessera.gateway.adapters.tokens import TokenVerifier
from tessera.gateway.app import create_app
from tessera.gateway.config import GatewaySettings
from tessera.kit.cache import CacheAside
from tessera.kit.faults import FaultInjector
from tessera.kit.service import ServiceContext, ServiceSpec


async def wire(ctx: ServiceContext[GatewaySettings]) -> Sequence[object]:
    settings = ctx.settings
    catalog = ctx.channel("catalog", catalog_pb2_grpc.CatalogServiceStub)
    orders = ctx.channel("orders", orders_pb2_grpc.OrdersServiceStub)
    readmodels = ctx.channel("projections", readmodels_pb2_grpc.ReadModelServiceStub)
    inventory = ctx.channel("inventory", inventory_pb2_grpc.InventoryServiceStub)
    payments = ctx.channel("payments", payments_pb2_grpc.PaymentsServiceStub)
    cache = CacheAside(ctx.redis, "gateway-catalog", settings.catalog_fallback_ttl_seconds)
    tokens = TokenVerifier(
        settings.auth_issuer, settings.auth_audience, jwks_url=settings.auth_jwks_url, jwks=settings.auth_jwks
    )
    await tokens.refresh()  # the issuer's keys, before the first request; a JWKS that cannot be had stops start-up
    backends = Backends(catalog, orders, readmodels, inventory, payments, cache, ctx.checks, ctx.platform_channels())
    app = create_app(
        backends,
        tokens,
        rate_limiter=RateLimiter(settings.redis_url, settings.rate_limit) if settings.rate_limit else None,
        kit_middleware=settings.kit_middleware,
        faults=FaultInjector(settings.fault_percent),
    )
    await ctx.serve_http(app)
    return []


SPEC = ServiceSpec(GatewaySettings, wire)
