"""readmodels.v1.ReadModelService: queries on the views, never on the write side."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import grpc
from orders.v1 import orders_pb2
from pymongo import DESCENDING
from pymongo.asynchronous.database import AsyncDatabase
from readmodels.v1 import readmodels_pb2, readmodels_pb2_grpc

from tessera.kit.documents import Document
from tessera.kit.errors import InvalidRequest, NotFound
from tessera.kit.fields import decode_page_token, encode_page_token
from tessera.projections.projectors import ORDER_SUMMARIES, STOCK_VIEWS

Context = grpc.aio.ServicerContext[Any, Any]

_STATUS = {
    "pending": orders_pb2.ORDER_STATUS_PENDING,
    "confirmed": orders_pb2.ORDER_STATUS_CONFIRMED,
    "rejected": orders_pb2.ORDER_STATUS_REJECTED,
    "cancelled": orders_pb2.ORDER_STATUS_CANCELLED,
}
MAX_PAGE = 100


def _summary(document: Document) -> readmodels_pb2.OrderSummary:
    summary = readmodels_pb2.OrderSummary(
        order_id=document["_id"],
        customer_id=document["customer_id"],
        status=_STATUS[document["status"]],
        total_cents=document["total_cents"],
        currency=document["currency"],
        item_count=document["item_count"],
        reject_reason=document["reject_reason"],
        version=document["version"],
    )
    summary.placed_at.FromDatetime(document["placed_at"])
    summary.updated_at.FromDatetime(document["updated_at"])
    return summary


def _token(document: Document) -> str:
    return encode_page_token(document["placed_at"].isoformat(), document["_id"])


def _after(token: str) -> Document:
    """The filter of the documents after a page's last: older, or as old with a smaller id."""
    placed_at, order_id = decode_page_token(token, parts=2)
    try:
        at = datetime.fromisoformat(placed_at)
    except ValueError:
        raise InvalidRequest({"page_token": "is not a token this service issued"}) from None
    return {"$or": [{"placed_at": {"$lt": at}}, {"placed_at": at, "_id": {"$lt": order_id}}]}


class ReadModelGrpcApi(readmodels_pb2_grpc.ReadModelServiceServicer):
    def __init__(self, views: AsyncDatabase[Document]) -> None:
        self._orders = views[ORDER_SUMMARIES]
        self._stock = views[STOCK_VIEWS]

    async def ListCustomerOrders(
        self, request: readmodels_pb2.ListCustomerOrdersRequest, context: Context
    ) -> readmodels_pb2.ListCustomerOrdersResponse:
        if not request.customer_id:
            raise InvalidRequest({"customer_id": "is required"})
        if not 0 <= request.page_size <= MAX_PAGE:
            raise InvalidRequest({"page_size": f"must be between 0 and {MAX_PAGE}"})
        limit = request.page_size or 20
        query: Document = {"customer_id": request.customer_id}
        if request.page_token:
            query |= _after(request.page_token)
        found = self._orders.find(query).sort([("placed_at", DESCENDING), ("_id", DESCENDING)]).limit(limit + 1)
        documents = await found.to_list()
        page = documents[:limit]
        return readmodels_pb2.ListCustomerOrdersResponse(
            orders=[_summary(d) for d in page], next_page_token=_token(page[-1]) if len(documents) > limit else ""
        )

    async def GetStockView(
        self, request: readmodels_pb2.GetStockViewRequest, context: Context
    ) -> readmodels_pb2.StockView:
        document = await self._stock.find_one({"_id": request.product_id})
        if document is None:
            raise NotFound(f"no stock view for product {request.product_id}")
        return readmodels_pb2.StockView(
            product_id=document["_id"],
            on_hand=document["on_hand"],
            reserved=document["reserved"],
            available=document["available"],
            version=document["version"],
        )
