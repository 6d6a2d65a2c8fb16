"""The GraphQL API (Strawberry), on the same backends and views as REST. Served at /graphql."""

from __future__ import annotations

from typing import Any

import grpc
import strawberry
from graphql import GraphQLError
from orders.v1 import orders_pb2
from readmodels.v1 import readmodels_pb2
from strawberry.experimental.pydantic import type as pydantic_type
from strawberry.fastapi import GraphQLRouter
from strawberry.types import Info

from tessera.gateway import views
from tessera.gateway.adapters.backends import CATALOG_FROM_CACHE, DEGRADED_HEADER, Backends, http_status_of


@pydantic_type(model=views.Product, all_fields=True)
class Product:
    pass


@pydantic_type(model=views.OrderLine, all_fields=True)
class OrderLine:
    pass


@pydantic_type(model=views.Order, all_fields=True)
class Order:
    pass


@pydantic_type(model=views.HistoryEvent, all_fields=True)
class HistoryEvent:
    pass


@pydantic_type(model=views.OrderSummary, all_fields=True)
class OrderSummary:
    pass


@strawberry.input
class OrderItemInput:
    product_id: str
    quantity: int


def _backends(info: Info[Any, Any]) -> Backends:
    backends: Backends = info.context["request"].app.state.backends
    return backends


async def _call(call: Any) -> Any:
    """Awaits a gRPC call; its failure becomes a GraphQL error with the service's message and an HTTP-like code."""
    try:
        return await call
    except grpc.aio.AioRpcError as exc:
        raise GraphQLError(
            exc.details() or exc.code().name,
            extensions={"code": exc.code().name, "status": http_status_of(exc)},
        ) from None


def _mark_stale(info: Info[Any, Any], stale: bool) -> None:
    """Served from the fallback cache while the catalog is down: the same header as REST says so."""
    if stale:
        info.context["response"].headers[DEGRADED_HEADER] = CATALOG_FROM_CACHE


@strawberry.type
class Query:
    @strawberry.field
    async def products(self, info: Info[Any, Any], page_size: int = 20, page_token: str = "") -> list[Product]:
        reply, stale = await _call(_backends(info).catalog_reads.list_products(page_size, page_token))
        _mark_stale(info, stale)
        return [Product.from_pydantic(views.Product.of(p)) for p in reply.products]

    @strawberry.field
    async def product(self, info: Info[Any, Any], product_id: str) -> Product:
        reply, stale = await _call(_backends(info).catalog_reads.get_product(product_id))
        _mark_stale(info, stale)
        return Product.from_pydantic(views.Product.of(reply))

    @strawberry.field
    async def order(self, info: Info[Any, Any], order_id: str) -> Order:
        reply = await _call(_backends(info).orders.GetOrder(orders_pb2.GetOrderRequest(order_id=order_id)))
        return Order.from_pydantic(views.Order.of(reply))

    @strawberry.field
    async def order_history(self, info: Info[Any, Any], order_id: str) -> list[HistoryEvent]:
        reply = await _call(
            _backends(info).orders.GetOrderHistory(orders_pb2.GetOrderHistoryRequest(order_id=order_id))
        )
        return [HistoryEvent.from_pydantic(views.HistoryEvent.of(e)) for e in reply.events]

    @strawberry.field
    async def customer_orders(self, info: Info[Any, Any], customer_id: str) -> list[OrderSummary]:
        reply = await _call(
            _backends(info).readmodels.ListCustomerOrders(
                readmodels_pb2.ListCustomerOrdersRequest(customer_id=customer_id, page_size=100)
            )
        )
        return [OrderSummary.from_pydantic(views.OrderSummary.of(s)) for s in reply.orders]


@strawberry.type
class Mutation:
    @strawberry.mutation
    async def place_order(
        self,
        info: Info[Any, Any],
        idempotency_key: str,
        customer_id: str,
        items: list[OrderItemInput],
        card_token: str,
    ) -> Order:
        try:
            command = views.PlaceOrder(
                customer_id=customer_id,
                items=[views.OrderItem(product_id=i.product_id, quantity=i.quantity) for i in items],
                card_token=card_token,
            )
        except ValueError as exc:  # pydantic's ValidationError: the same rules as REST
            raise GraphQLError(str(exc), extensions={"code": "INVALID_ARGUMENT", "status": 400}) from None
        if not idempotency_key:
            raise GraphQLError("idempotencyKey is required", extensions={"code": "INVALID_ARGUMENT", "status": 400})
        reply = await _call(_backends(info).orders.PlaceOrder(command.to_proto(idempotency_key)))
        return Order.from_pydantic(views.Order.of(reply))

    @strawberry.mutation
    async def cancel_order(self, info: Info[Any, Any], order_id: str, reason: str = "") -> Order:
        reply = await _call(
            _backends(info).orders.CancelOrder(orders_pb2.CancelOrderRequest(order_id=order_id, reason=reason))
        )
        return Order.from_pydantic(views.Order.of(reply))


schema = strawberry.Schema(query=Query, mutation=Mutation)


def graphql_router() -> GraphQLRouter[Any, Any]:
    return GraphQLRouter(schema, path="/graphql")
