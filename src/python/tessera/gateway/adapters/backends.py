"""The services behind the gateway, over gRPC; how their errors become HTTP statuses; degraded-mode reads."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import grpc
from google.protobuf.json_format import MessageToDict
from google.protobuf.message import Message
from inventory.v1 import inventory_pb2, inventory_pb2_grpc
from ops.v1 import dependencies_pb2, dependencies_pb2_grpc
from orders.v1 import orders_pb2, orders_pb2_grpc
from payments.v1 import payments_pb2, payments_pb2_grpc
from readmodels.v1 import readmodels_pb2_grpc

from catalog.v1 import catalog_pb2, catalog_pb2_grpc
from tessera.gateway.views import PlaceOrder
from tessera.kit import resilience
from tessera.kit.cache import CacheAside
from tessera.kit.dependencies import DependencyChecks
from tessera.kit.logs import get_logger

log = get_logger(__name__)

MessageT = TypeVar("MessageT", bound=Message)

# Set on answers served from the fallback cache while the catalog is down.
DEGRADED_HEADER = "X-Tessera-Degraded"
CATALOG_FROM_CACHE = "catalog-cache"

# gRPC status -> HTTP status, for errors passed on to clients.
HTTP_STATUS = {
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.OUT_OF_RANGE: 400,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.FAILED_PRECONDITION: 409,
    grpc.StatusCode.ABORTED: 409,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
}


def http_status_of(error: grpc.aio.AioRpcError) -> int:
    return HTTP_STATUS.get(error.code(), 502)


class FallbackCatalog:
    """Catalog reads that outlive a catalog outage.

    Every good answer is kept in Redis (shared by all gateway replicas); when the catalog fails (unavailable,
    timed out, or its breaker is open) the last good answer is served instead, flagged as stale. Answers of a
    working catalog (NOT_FOUND, INVALID_ARGUMENT) pass through: only outages fall back.
    """

    # An answer already in the fallback cache is written again only after this long (to renew its TTL), not on
    # every read: a Redis write per read was a third of the read path's round trips.
    REFRESH_SECONDS = 60.0
    REMEMBERED = 10_000  # answers whose last write is remembered; beyond, the oldest are forgotten (and rewritten)

    def __init__(self, stub: catalog_pb2_grpc.CatalogServiceStub, cache: CacheAside) -> None:
        self._stub: Any = stub  # the generated stubs are typed for sync channels; on aio channels calls are awaitables
        self._cache = cache
        self._written: dict[str, tuple[bytes, float]] = {}  # key -> (what was written, when)

    async def get_product(self, product_id: str) -> tuple[catalog_pb2.Product, bool]:
        return await self._read(
            f"product:{product_id}",
            lambda: self._stub.GetProduct(catalog_pb2.GetProductRequest(product_id=product_id)),
            catalog_pb2.Product,
        )

    async def list_products(self, page_size: int, page_token: str) -> tuple[catalog_pb2.ListProductsResponse, bool]:
        return await self._read(
            f"list:{page_size}:{page_token}",
            lambda: self._stub.ListProducts(
                catalog_pb2.ListProductsRequest(page_size=page_size, page_token=page_token)
            ),
            catalog_pb2.ListProductsResponse,
        )

    async def _read(
        self, key: str, call: Callable[[], Awaitable[MessageT]], message_type: type[MessageT]
    ) -> tuple[MessageT, bool]:
        """(answer, stale): the catalog's answer, or the cached one when the catalog is out."""
        try:
            reply = await call()
        except grpc.aio.AioRpcError as exc:
            if exc.code() not in resilience.FAILURE_CODES:
                raise
            cached = await self._cache.get(key)
            if cached is None:
                raise
            log.warning("catalog unavailable; serving the last good answer", key=key, code=exc.code().name)
            stale = message_type()
            stale.ParseFromString(cached)
            return stale, True
        await self._keep(key, reply.SerializeToString())
        return reply, False

    async def _keep(self, key: str, value: bytes) -> None:
        """Writes the answer to the fallback cache if it changed or its last write is getting old."""
        now = time.monotonic()
        written = self._written.get(key)
        if written is not None and written[0] == value and now - written[1] < self.REFRESH_SECONDS:
            return
        await self._cache.put(key, value)
        self._written.pop(key, None)
        self._written[key] = (value, now)  # most recent last: the first entries are the oldest
        if len(self._written) > self.REMEMBERED:
            del self._written[next(iter(self._written))]


@dataclass
class Backends:
    catalog_channel: grpc.aio.Channel
    orders_channel: grpc.aio.Channel
    readmodels_channel: grpc.aio.Channel
    inventory_channel: grpc.aio.Channel
    payments_channel: grpc.aio.Channel
    catalog_cache: CacheAside
    checks: DependencyChecks  # the gateway's own (kit.service context): what readiness and the report show
    # Every service of the platform, by name, for the platform health view (the three above included).
    platform: Mapping[str, grpc.aio.Channel] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.catalog = catalog_pb2_grpc.CatalogServiceStub(self.catalog_channel)
        self.catalog_reads = FallbackCatalog(self.catalog, self.catalog_cache)
        self.orders = orders_pb2_grpc.OrdersServiceStub(self.orders_channel)
        self.readmodels = readmodels_pb2_grpc.ReadModelServiceStub(self.readmodels_channel)
        self.inventory = inventory_pb2_grpc.InventoryServiceStub(self.inventory_channel)
        self.payments = payments_pb2_grpc.PaymentsServiceStub(self.payments_channel)

    async def stock(self, product_id: str) -> inventory_pb2.StockLevel:
        """Inventory's level; a catalog product inventory never heard of has nothing on hand (not an error)."""
        try:
            level: inventory_pb2.StockLevel = await self.inventory.GetStock(
                inventory_pb2.GetStockRequest(product_id=product_id)
            )
        except grpc.aio.AioRpcError as exc:
            if exc.code() != grpc.StatusCode.NOT_FOUND:
                raise
            await self.catalog_reads.get_product(product_id)  # NOT_FOUND if the catalog lacks it too
            return inventory_pb2.StockLevel(product_id=product_id)
        return level

    async def place_order(self, command: PlaceOrder, customer_id: str, idempotency_key: str) -> orders_pb2.Order:
        """Payments exchanges the card token for a payment method first: the token goes no further than payments.

        The same key gives the same method (and then the same order), so a retried placement is still one order.
        """
        method = await self.payments.RegisterPaymentMethod(
            payments_pb2.RegisterPaymentMethodRequest(
                idempotency_key=idempotency_key, customer_id=customer_id, card_token=command.card_token
            )
        )
        return await self.orders.PlaceOrder(command.to_proto(customer_id, idempotency_key, method.payment_method_id))

    async def health(self) -> dict[str, str]:
        """Each backend's gRPC health: SERVING, NOT_SERVING, or UNREACHABLE (what readiness needs)."""
        report = await self.checks.report(timeout_seconds=1.0)
        return {
            d.name: "SERVING" if d.healthy else ("UNREACHABLE" if d.unreachable else "NOT_SERVING")
            for d in report.dependencies
            if d.kind == "grpc"
        }

    async def platform_health(self) -> dict[str, Any]:
        """The whole platform: the gateway's own dependencies and every service's report of its dependencies."""

        async def ask(name: str, channel: grpc.aio.Channel) -> dict[str, Any]:
            stub: Any = dependencies_pb2_grpc.DependencyHealthServiceStub(channel)  # typed for sync channels
            try:
                reply = await stub.GetDependencies(dependencies_pb2.GetDependenciesRequest(), timeout=3.0)
            except grpc.aio.AioRpcError as exc:
                return {"reachable": False, "healthy": False, "detail": f"{exc.code().name}: {exc.details()}"}
            return {"reachable": True, **_as_dict(reply)}

        gateway = _as_dict(await self.checks.report())
        names = list(self.platform)
        reports = await asyncio.gather(*(ask(name, self.platform[name]) for name in names))
        services = {"gateway": {"reachable": True, **gateway}, **dict(zip(names, reports, strict=True))}
        return {"healthy": all(s["healthy"] for s in services.values()), "services": services}


def _as_dict(reply: Message) -> dict[str, Any]:
    return MessageToDict(reply, preserving_proto_field_name=True, always_print_fields_with_no_presence=True)
