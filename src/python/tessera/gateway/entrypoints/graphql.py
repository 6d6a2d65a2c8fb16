"""The GraphQL API (Strawberry), on the same backends and views as REST. Served at /graphql."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc
import strawberry
from graphql import GraphQLError
from strawberry.experimental.pydantic import type as pydantic_type
from strawberry.fastapi import GraphQLRouter
from strawberry.types import Info

from tessera.gateway import views
from tessera.gateway.adapters.backends import Backends
from tessera.gateway.adapters.tokens import Principal
from tessera.gateway.entrypoints.http_status import CATALOG_FROM_CACHE, DEGRADED_HEADER, http_status_of
from tessera.gateway.entrypoints.security import Caller, Forbidden, customer_of, orders_visible_to


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


def _caller(info: Info[Any, Any]) -> Principal:
    caller: Principal = info.context["caller"]
    return caller


def _as_graphql_error(rule: Callable[[Principal], str], info: Info[Any, Any]) -> str:
    """A rule of the caller's rights (security.py, shared with REST); refused, it is a GraphQL error."""
    try:
        return rule(_caller(info))
    except Forbidden as exc:
        raise GraphQLError(str(exc), extensions={"code": "PERMISSION_DENIED", "status": 403}) from None


def _customer(info: Info[Any, Any]) -> str:
    return _as_graphql_error(customer_of, info)


def _acting_for(info: Info[Any, Any]) -> str:
    return _as_graphql_error(orders_visible_to, info)


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
        reply = await _call(_backends(info).order(order_id, _acting_for(info)))
        return Order.from_pydantic(views.Order.of(reply))

    @strawberry.field
    async def order_history(self, info: Info[Any, Any], order_id: str) -> list[HistoryEvent]:
        events = await _call(_backends(info).order_history(order_id, _acting_for(info)))
        return [HistoryEvent.from_pydantic(views.HistoryEvent.of(e)) for e in events]

    @strawberry.field
    async def customer_orders(self, info: Info[Any, Any], customer_id: str) -> list[OrderSummary]:
        if not _caller(info).may_read(customer_id):
            raise GraphQLError(f"customer {customer_id} not found", extensions={"code": "NOT_FOUND", "status": 404})
        summaries = await _call(_backends(info).customer_orders(customer_id, page_size=100))
        return [OrderSummary.from_pydantic(views.OrderSummary.of(s)) for s in summaries]


@strawberry.type
class Mutation:
    @strawberry.mutation
    async def place_order(
        self,
        info: Info[Any, Any],
        idempotency_key: str,
        items: list[OrderItemInput],
        card_token: str,
    ) -> Order:
        """For the token's customer, as over REST."""
        customer_id = _customer(info)
        try:
            command = views.PlaceOrder(
                items=[
                    views.OrderItem.model_validate({"product_id": i.product_id, "quantity": i.quantity}) for i in items
                ],
                card_token=card_token,
            )
        except ValueError as exc:  # pydantic's ValidationError: the same rules as REST
            raise GraphQLError(str(exc), extensions={"code": "INVALID_ARGUMENT", "status": 400}) from None
        if not 0 < len(idempotency_key) <= 128:
            raise GraphQLError(
                "idempotencyKey is required (at most 128 characters)",
                extensions={"code": "INVALID_ARGUMENT", "status": 400},
            )
        reply = await _call(_backends(info).place_order(command, customer_id, idempotency_key))
        return Order.from_pydantic(views.Order.of(reply))

    @strawberry.mutation
    async def cancel_order(self, info: Info[Any, Any], order_id: str, reason: str = "") -> Order:
        reply = await _call(_backends(info).cancel_order(order_id, reason, _acting_for(info)))
        return Order.from_pydantic(views.Order.of(reply))


schema = strawberry.Schema(query=Query, mutation=Mutation)


async def _context(caller: Caller) -> dict[str, Any]:
    """The verified caller, for the resolvers (Strawberry adds the request and response)."""
    return {"caller": caller}


def graphql_router() -> GraphQLRouter[Any, Any]:
    # Not in the OpenAPI document: GraphQL describes itself (introspection), and its GET serves the GraphiQL page.
    return GraphQLRouter(schema, path="/graphql", context_getter=_context, include_in_schema=False)
