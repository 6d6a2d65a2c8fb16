"""The REST API (OpenAPI at /docs and /openapi.json)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Header, HTTPException, Path, Query, Request, Response

from tessera.gateway.adapters.backends import Backends
from tessera.gateway.entrypoints.http_status import CATALOG_FROM_CACHE, DEGRADED_HEADER
from tessera.gateway.entrypoints.security import Caller, authenticated, customer_of, orders_visible_to, require_admin
from tessera.gateway.views import (
    HistoryEvent,
    NewProduct,
    Order,
    OrderSummary,
    PlaceOrder,
    Problem,
    Product,
    ProductChange,
    ProductPage,
    SetStock,
    StockLevel,
)

ERRORS: dict[int | str, dict[str, object]] = {
    code: {"model": Problem} for code in (400, 401, 403, 404, 409, 422, 429, 502, 503, 504)
}  # fmt: skip


def _backends(request: Request) -> Backends:
    backends: Backends = request.app.state.backends
    return backends


router = APIRouter(prefix="/v1", responses=ERRORS, dependencies=[Depends(authenticated)])


# Product ids are UUIDs the catalog issued; anything else is refused here (422), not by the catalog.
ProductId = Annotated[uuid.UUID, Path(description="the catalog's id of the product")]
# What a previous page's next_page_token was: URL-safe base64 (a token not from a page may still be refused, 400).
PAGE_TOKEN = Query(max_length=400, pattern=r"^[A-Za-z0-9_-]*={0,2}$", description="a previous page's next_page_token")
# POST /v1/orders answers with the order; these links lead from it to the order's own operations (OpenAPI 3 links,
# which schemathesis follows in its stateful phase).
ORDER_LINKS = {
    name: {"operationId": operation, "parameters": {"order_id": "$response.body#/order_id"}}
    for name, operation in (("GetOrder", "getOrder"), ("GetOrderHistory", "getOrderHistory"),
                            ("CancelOrder", "cancelOrder"))
}  # fmt: skip


@router.get("/products", response_model=ProductPage, tags=["catalog"])
async def list_products(
    request: Request,
    response: Response,
    page_size: Annotated[int, Query(ge=0, le=100)] = 20,
    page_token: Annotated[str, PAGE_TOKEN] = "",
) -> ProductPage:
    reply, stale = await _backends(request).catalog_reads.list_products(page_size, page_token)
    if stale:
        response.headers[DEGRADED_HEADER] = CATALOG_FROM_CACHE
    return ProductPage(products=[Product.of(p) for p in reply.products], next_page_token=reply.next_page_token)


@router.get("/products/{product_id}", response_model=Product, tags=["catalog"])
async def get_product(request: Request, response: Response, product_id: ProductId) -> Product:
    """While the catalog is down, the last good answer is served with the X-Tessera-Degraded header."""
    product, stale = await _backends(request).catalog_reads.get_product(str(product_id))
    if stale:
        response.headers[DEGRADED_HEADER] = CATALOG_FROM_CACHE
    return Product.of(product)


@router.post("/products", response_model=Product, status_code=201, tags=["catalog admin"])
async def create_product(request: Request, response: Response, caller: Caller, body: NewProduct) -> Product:
    """Admin scope. A SKU already in the catalog is 409."""
    require_admin(caller)
    product = await _backends(request).create_product(body.to_proto())
    response.headers["Location"] = f"/v1/products/{product.product_id}"
    return Product.of(product)


@router.patch("/products/{product_id}", response_model=Product, tags=["catalog admin"])
async def update_product(request: Request, caller: Caller, product_id: ProductId, body: ProductChange) -> Product:
    """Admin scope. The fields given change; with expected_version, a product changed meanwhile is 409."""
    require_admin(caller)
    return Product.of(await _backends(request).update_product(body.to_proto(str(product_id))))


@router.get("/products/{product_id}/stock", response_model=StockLevel, tags=["catalog"])
async def get_stock(request: Request, product_id: ProductId) -> StockLevel:
    """A product of the catalog that was never stocked has none (zeros); a product the catalog lacks is 404."""
    return StockLevel.of(await _backends(request).stock(str(product_id)))


@router.put("/products/{product_id}/stock", response_model=StockLevel, tags=["catalog admin"])
async def set_stock(request: Request, caller: Caller, product_id: ProductId, body: SetStock) -> StockLevel:
    """Admin scope. Sets what is on hand; less than is reserved for pending orders is 400."""
    require_admin(caller)
    return StockLevel.of(await _backends(request).set_stock(str(product_id), body.on_hand))


@router.post(
    "/orders",
    response_model=Order,
    status_code=202,
    tags=["orders"],
    operation_id="placeOrder",
    responses={202: {"links": ORDER_LINKS}},
)
async def place_order(
    request: Request,
    response: Response,
    caller: Caller,
    body: PlaceOrder,
    idempotency_key: Annotated[str, Header(min_length=1, max_length=128, description="the same key, the same order")],
) -> Order:
    """Accepted, not yet confirmed: the order saga confirms or rejects it shortly; poll GET /v1/orders/{id}.

    For the token's customer; the idempotency key is that customer's own."""
    order = await _backends(request).place_order(body, customer_of(caller), idempotency_key)
    response.headers["Location"] = f"/v1/orders/{order.order_id}"
    return Order.of(order)


@router.get("/orders/{order_id}", response_model=Order, tags=["orders"], operation_id="getOrder")
async def get_order(request: Request, caller: Caller, order_id: str) -> Order:
    """Another customer's order is 404, as an order that does not exist."""
    return Order.of(await _backends(request).order(order_id, orders_visible_to(caller)))


@router.get(
    "/orders/{order_id}/history",
    response_model=list[HistoryEvent],
    tags=["orders"],
    operation_id="getOrderHistory",
)
async def order_history(request: Request, caller: Caller, order_id: str) -> list[HistoryEvent]:
    events = await _backends(request).order_history(order_id, orders_visible_to(caller))
    return [HistoryEvent.of(e) for e in events]


@router.post("/orders/{order_id}/cancel", response_model=Order, tags=["orders"], operation_id="cancelOrder")
async def cancel_order(
    request: Request, caller: Caller, order_id: str, reason: Annotated[str, Query(max_length=500)] = ""
) -> Order:
    return Order.of(await _backends(request).cancel_order(order_id, reason, orders_visible_to(caller)))


@router.get("/customers/{customer_id}/orders", response_model=list[OrderSummary], tags=["orders"])
async def customer_orders(
    request: Request, caller: Caller, customer_id: str, page_size: Annotated[int, Query(ge=0, le=100)] = 20
) -> list[OrderSummary]:
    """From the read model: eventually consistent, a moment behind the orders themselves.

    A customer's token reads its own list only (another customer's is 404); an admin's reads any."""
    if not caller.may_read(customer_id):
        raise HTTPException(404, f"customer {customer_id} not found")
    return [OrderSummary.of(s) for s in await _backends(request).customer_orders(customer_id, page_size)]
