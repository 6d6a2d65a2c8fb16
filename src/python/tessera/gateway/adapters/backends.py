"""The services behind the gateway, as the API's handlers (REST and GraphQL alike) use them: an operation each,
taking plain values and returning the services' messages, so the handlers build no requests of their own. Beside
them, the catalog's fallback reads and the platform's health."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import grpc
from inventory.v1 import inventory_pb2, inventory_pb2_grpc
from orders.v1 import orders_pb2, orders_pb2_grpc
from payments.v1 import payments_pb2, payments_pb2_grpc
from readmodels.v1 import readmodels_pb2, readmodels_pb2_grpc

from catalog.v1 import catalog_pb2, catalog_pb2_grpc
from events.v1 import envelope_pb2
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

    async def create_product(self, request: catalog_pb2.CreateProductRequest) -> catalog_pb2.Product:
        product: catalog_pb2.Product = await self.catalog.CreateProduct(request)
        return product

    async def update_product(self, request: catalog_pb2.UpdateProductRequest) -> catalog_pb2.Product:
        product: catalog_pb2.Product = await self.catalog.UpdateProduct(request)
        return product

    async def set_stock(self, product_id: str, on_hand: int) -> inventory_pb2.StockLevel:
        asked = inventory_pb2.SetStockRequest(product_id=product_id, on_hand=on_hand)
        level: inventory_pb2.StockLevel = await self.inventory.SetStock(asked)
        return level

    async def order(self, order_id: str, visible_to: str) -> orders_pb2.Order:
        """`visible_to`: the customer whose order it must be ("" for an admin: anyone's)."""
        asked = orders_pb2.GetOrderRequest(order_id=order_id, customer_id=visible_to)
        order: orders_pb2.Order = await self.orders.GetOrder(asked)
        return order

    async def order_history(self, order_id: str, visible_to: str) -> Sequence[envelope_pb2.EventEnvelope]:
        asked = orders_pb2.GetOrderHistoryRequest(order_id=order_id, customer_id=visible_to)
        reply: orders_pb2.GetOrderHistoryResponse = await self.orders.GetOrderHistory(asked)
        return list(reply.events)

    async def cancel_order(self, order_id: str, reason: str, visible_to: str) -> orders_pb2.Order:
        asked = orders_pb2.CancelOrderRequest(order_id=order_id, reason=reason, customer_id=visible_to)
        order: orders_pb2.Order = await self.orders.CancelOrder(asked)
        return order

    async def customer_orders(self, customer_id: str, page_size: int) -> Sequence[readmodels_pb2.OrderSummary]:
        """From the read model: a moment behind the orders themselves, newest first."""
        asked = readmodels_pb2.ListCustomerOrdersRequest(customer_id=customer_id, page_size=page_size)
        reply: readmodels_pb2.ListCustomerOrdersResponse = await self.readmodels.ListCustomerOrders(asked)
        return list(reply.orders)

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
