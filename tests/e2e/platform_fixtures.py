"""A whole platform of service processes on the session's servers, and helpers to drive it."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import asyncpg
import grpc
import pytest_asyncio
from inventory.v1 import inventory_pb2, inventory_pb2_grpc
from orders.v1 import orders_pb2, orders_pb2_grpc
from payments.v1 import payments_pb2, payments_pb2_grpc
from pymongo.asynchronous.database import AsyncDatabase
from readmodels.v1 import readmodels_pb2, readmodels_pb2_grpc

from catalog.v1 import catalog_pb2, catalog_pb2_grpc
from tessera.kit.documents import Document, create_mongo
from tessera.localinfra import InfraEndpoints
from tessera.localstack.platform import Platform

# Short saga timings, so tests of timeouts and crashes finish quickly; a rate limit that tests meet only when
# they mean to (one caller sending 100 requests within a second).
FAST_SAGA = {
    "TESSERA_STEP_TIMEOUT_SECONDS": "3",
    "TESSERA_LEASE_SECONDS": "3",
    "TESSERA_RESUME_EVERY_SECONDS": "0.5",
    "TESSERA_RATE_LIMIT": "100/second",
}
T = TypeVar("T")
FINAL = {orders_pb2.ORDER_STATUS_CONFIRMED, orders_pb2.ORDER_STATUS_REJECTED, orders_pb2.ORDER_STATUS_CANCELLED}


@dataclass
class Clients:
    platform: Platform
    catalog: catalog_pb2_grpc.CatalogServiceAsyncStub
    inventory: inventory_pb2_grpc.InventoryServiceAsyncStub
    payments: payments_pb2_grpc.PaymentsServiceAsyncStub
    orders: orders_pb2_grpc.OrdersServiceAsyncStub
    readmodels: readmodels_pb2_grpc.ReadModelServiceAsyncStub

    def documents(self, service: str) -> AsyncDatabase[Document]:
        """The service's database on the document store (close with `.client.close()`)."""
        client = create_mongo(self.platform.infra.mongo_url, app_name="e2e")
        return client[f"{self.platform.database_prefix}{service}"]

    async def db(self, service: str) -> asyncpg.Connection:
        dsn = self.platform.infra.postgres_dsn.rpartition("/")[0]
        return await asyncpg.connect(f"{dsn}/{self.platform.database_prefix}{service}")

    async def product(self, price_cents: int = 1000, stock: int = 10) -> str:
        created = await self.catalog.CreateProduct(
            catalog_pb2.CreateProductRequest(
                sku=f"SKU-{uuid.uuid4().hex[:10]}", name="Thing", price_cents=price_cents, currency="EUR"
            )
        )
        await self.inventory.SetStock(inventory_pb2.SetStockRequest(product_id=created.product_id, on_hand=stock))
        return created.product_id

    async def place(
        self,
        product_id: str,
        quantity: int = 1,
        *,
        card: str = "tok_visa",
        key: str | None = None,
        customer: str = "c-e2e",
    ) -> orders_pb2.Order:
        """As the gateway does: payments exchanges the card for a payment method, then the order is placed."""
        key = key or str(uuid.uuid4())
        method = await self.payments.RegisterPaymentMethod(
            payments_pb2.RegisterPaymentMethodRequest(idempotency_key=key, customer_id=customer, card_token=card),
            timeout=10,
            wait_for_ready=True,
        )
        return await self.orders.PlaceOrder(
            orders_pb2.PlaceOrderRequest(
                idempotency_key=key,
                customer_id=customer,
                items=[orders_pb2.PlaceOrderRequest.Item(product_id=product_id, quantity=quantity)],
                payment_method_id=method.payment_method_id,
            ),
            timeout=10,
            wait_for_ready=True,
        )

    async def place_until_placed(self, product_id: str, timeout: float = 60.0) -> orders_pb2.Order:
        """As a client does through an outage: the same idempotency key again while the services are unavailable."""
        key = str(uuid.uuid4())
        deadline = time.monotonic() + timeout
        while True:
            try:
                return await self.place(product_id, key=key)
            except grpc.aio.AioRpcError as exc:
                if exc.code() != grpc.StatusCode.UNAVAILABLE or time.monotonic() > deadline:
                    raise
            await asyncio.sleep(0.2)

    async def final(self, order_id: str, timeout: float = 60.0) -> orders_pb2.Order:
        return await wait_for(
            lambda: self.orders.GetOrder(orders_pb2.GetOrderRequest(order_id=order_id), timeout=5, wait_for_ready=True),
            lambda order: order.status in FINAL,
            timeout,
        )

    async def settled(self, *order_ids: str, timeout: float = 60.0) -> list[orders_pb2.Order]:
        """The orders in their final status once their sagas have finished too: confirming the order is the saga's
        pivot, so capturing the payment and committing the stock come after the order already reads CONFIRMED."""
        finals = await asyncio.gather(*(self.final(order_id, timeout) for order_id in order_ids))
        await wait_for(lambda: self.sagas_unfinished(order_ids), lambda n: n == 0, timeout)
        return list(finals)

    async def customer_orders(self, customer_id: str) -> list[readmodels_pb2.OrderSummary]:
        reply = await self.readmodels.ListCustomerOrders(
            readmodels_pb2.ListCustomerOrdersRequest(customer_id=customer_id, page_size=100)
        )
        return list(reply.orders)

    async def stock(self, product_id: str) -> inventory_pb2.StockLevel:
        return await self.inventory.GetStock(inventory_pb2.GetStockRequest(product_id=product_id))

    async def sagas_unfinished(self, order_ids: Sequence[str] | None = None) -> int:
        """Sagas not finished yet: of these orders, or of all when none are named."""
        conn = await self.db("saga")
        try:
            return int(
                await conn.fetchval(
                    "SELECT count(*) FROM sagas"
                    " WHERE finished_at IS NULL AND ($1::text[] IS NULL OR order_id = ANY($1))",
                    None if order_ids is None else list(order_ids),
                )
            )
        finally:
            await conn.close()


async def wait_for(fetch: Callable[[], Awaitable[T]], done: Callable[[T], bool], timeout: float) -> T:
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = await fetch()
            if done(value):
                return value
        except grpc.aio.AioRpcError as exc:
            if exc.code() not in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
                raise
        if time.monotonic() > deadline:
            raise TimeoutError(f"not done after {timeout} s")
        await asyncio.sleep(0.2)


async def platform_clients(
    infra: InfraEndpoints, log_dir: Path, extra_env: Mapping[str, str] | None = None, *, one_process: bool = False
) -> AsyncIterator[Clients]:
    prefix = f"e{uuid.uuid4().hex[:8]}_"
    platform = Platform(
        infra,
        log_dir,
        database_prefix=prefix,
        topic_prefix=f"{prefix}.",
        extra_env={**FAST_SAGA, **(extra_env or {})},
        one_process=one_process,
    )
    channels: list[grpc.aio.Channel] = []
    try:
        await platform.start_all()

        def channel(name: str) -> grpc.aio.Channel:
            channels.append(grpc.aio.insecure_channel(platform.grpc_address(name)))
            return channels[-1]

        yield Clients(
            platform,
            catalog_pb2_grpc.CatalogServiceStub(channel("catalog")),
            inventory_pb2_grpc.InventoryServiceStub(channel("inventory")),
            payments_pb2_grpc.PaymentsServiceStub(channel("payments")),
            orders_pb2_grpc.OrdersServiceStub(channel("orders")),
            readmodels_pb2_grpc.ReadModelServiceStub(channel("projections")),
        )
    finally:
        for ch in channels:
            await ch.close()
        await platform.stop_all()


# The platform both ways the local stack runs it: a process per service (as in Kubernetes), and every service in one
# process. A module using `clients` runs its tests against each.
MODES = ("processes", "one-process")


@pytest_asyncio.fixture(scope="module", loop_scope="module", params=MODES)
async def clients(infra: InfraEndpoints, tmp_path_factory, request) -> AsyncIterator[Clients]:  # type: ignore[no-untyped-def]
    logs = tmp_path_factory.mktemp(f"platform-logs-{request.param}")
    async for value in platform_clients(infra, logs, one_process=request.param == "one-process"):
        yield value
