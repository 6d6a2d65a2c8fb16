"""The services behind the gateway, by name: their stubs, the calls that take more than one of them, the
catalog's fallback reads and the platform's health."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

import grpc
from inventory.v1 import inventory_pb2, inventory_pb2_grpc
from orders.v1 import orders_pb2, orders_pb2_grpc
from payments.v1 import payments_pb2, payments_pb2_grpc
from readmodels.v1 import readmodels_pb2_grpc

from catalog.v1 import catalog_pb2_grpc
from tessera.gateway.adapters.fallback import FallbackCatalog
from tessera.gateway.adapters.platform_health import PlatformHealth
from tessera.kit.cache import CacheAside
from tessera.kit.dependencies import DependencyChecks


class OrderCommand(Protocol):
    """A placement as the API took it (REST or GraphQL): the card token, and the request it makes."""

    @property
    def card_token(self) -> str: ...

    def to_proto(
        self, customer_id: str, idempotency_key: str, payment_method_id: str
    ) -> orders_pb2.PlaceOrderRequest: ...


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
        self.health = PlatformHealth(self.checks, self.platform)
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

    async def place_order(self, command: OrderCommand, customer_id: str, idempotency_key: str) -> orders_pb2.Order:
        """Payments exchanges the card token for a payment method first: the token goes no further than payments.

        The same key gives the same method (and then the same order), so a retried placement is still one order.
        """
        method = await self.payments.RegisterPaymentMethod(
            payments_pb2.RegisterPaymentMethodRequest(
                idempotency_key=idempotency_key, customer_id=customer_id, card_token=command.card_token
            )
        )
        return await self.orders.PlaceOrder(command.to_proto(customer_id, idempotency_key, method.payment_method_id))
