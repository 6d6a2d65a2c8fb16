"""readmodels.v1.ReadModelService: queries on the views, never on the write side."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg
import grpc
from orders.v1 import orders_pb2
from readmodels.v1 import readmodels_pb2, readmodels_pb2_grpc

from tessera.kit.errors import InvalidRequest, NotFound
from tessera.kit.fields import decode_page_token, encode_page_token

Context = grpc.aio.ServicerContext[Any, Any]

_STATUS = {
    "pending": orders_pb2.ORDER_STATUS_PENDING,
    "confirmed": orders_pb2.ORDER_STATUS_CONFIRMED,
    "rejected": orders_pb2.ORDER_STATUS_REJECTED,
    "cancelled": orders_pb2.ORDER_STATUS_CANCELLED,
}
MAX_PAGE = 100


def _summary(row: asyncpg.Record) -> readmodels_pb2.OrderSummary:
    summary = readmodels_pb2.OrderSummary(
        order_id=row["order_id"],
        customer_id=row["customer_id"],
        status=_STATUS[row["status"]],
        total_cents=row["total_cents"],
        currency=row["currency"],
        item_count=row["item_count"],
        reject_reason=row["reject_reason"],
        version=row["version"],
    )
    summary.placed_at.FromDatetime(row["placed_at"])
    summary.updated_at.FromDatetime(row["updated_at"])
    return summary


def _token(row: asyncpg.Record) -> str:
    return encode_page_token(row["placed_at"].isoformat(), row["order_id"])


def _after(token: str) -> tuple[datetime, str]:
    placed_at, order_id = decode_page_token(token, parts=2)
    try:
        return datetime.fromisoformat(placed_at), order_id
    except ValueError:
        raise InvalidRequest({"page_token": "is not a token this service issued"}) from None


class ReadModelGrpcApi(readmodels_pb2_grpc.ReadModelServiceServicer):
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def ListCustomerOrders(
        self, request: readmodels_pb2.ListCustomerOrdersRequest, context: Context
    ) -> readmodels_pb2.ListCustomerOrdersResponse:
        if not request.customer_id:
            raise InvalidRequest({"customer_id": "is required"})
        if not 0 <= request.page_size <= MAX_PAGE:
            raise InvalidRequest({"page_size": f"must be between 0 and {MAX_PAGE}"})
        limit = request.page_size or 20
        after = _after(request.page_token) if request.page_token else None
        rows = await self._pool.fetch(
            """SELECT * FROM order_summaries WHERE customer_id = $1
                 AND ($2::timestamptz IS NULL OR (placed_at, order_id) < ($2, $3))
               ORDER BY placed_at DESC, order_id DESC LIMIT $4""",
            request.customer_id,
            after[0] if after else None,
            after[1] if after else "",
            limit + 1,
        )
        page = rows[:limit]
        return readmodels_pb2.ListCustomerOrdersResponse(
            orders=[_summary(r) for r in page], next_page_token=_token(page[-1]) if len(rows) > limit else ""
        )

    async def GetStockView(
        self, request: readmodels_pb2.GetStockViewRequest, context: Context
    ) -> readmodels_pb2.StockView:
        row = await self._pool.fetchrow("SELECT * FROM stock_views WHERE product_id = $1", request.product_id)
        if row is None:
            raise NotFound(f"no stock view for product {request.product_id}")
        return readmodels_pb2.StockView(
            product_id=row["product_id"],
            on_hand=row["on_hand"],
            reserved=row["reserved"],
            available=row["available"],
            version=row["version"],
        )
