"""orders.v1.OrdersService over gRPC."""

from __future__ import annotations

from typing import Any

import grpc
from orders.v1 import orders_pb2, orders_pb2_grpc

from tessera.orders import domain
from tessera.orders.adapters.messages import order_to_proto
from tessera.orders.service_layer import OrdersService

Context = grpc.aio.ServicerContext[Any, Any]


class OrdersGrpcApi(orders_pb2_grpc.OrdersServiceServicer):
    def __init__(self, service: OrdersService) -> None:
        self._service = service

    async def PlaceOrder(self, request: orders_pb2.PlaceOrderRequest, context: Context) -> orders_pb2.Order:
        command = domain.PlaceOrder(
            idempotency_key=request.idempotency_key,
            customer_id=request.customer_id,
            items=tuple((item.product_id, item.quantity) for item in request.items),
            payment_method_id=request.payment_method_id,
        )
        return order_to_proto(await self._service.place_order(command))

    async def CancelOrder(self, request: orders_pb2.CancelOrderRequest, context: Context) -> orders_pb2.Order:
        return order_to_proto(
            await self._service.cancel(request.order_id, request.reason, customer_id=request.customer_id)
        )

    async def GetOrder(self, request: orders_pb2.GetOrderRequest, context: Context) -> orders_pb2.Order:
        return order_to_proto(await self._service.get_order(request.order_id, customer_id=request.customer_id))

    async def GetOrderHistory(
        self, request: orders_pb2.GetOrderHistoryRequest, context: Context
    ) -> orders_pb2.GetOrderHistoryResponse:
        events = await self._service.history(request.order_id, customer_id=request.customer_id)
        return orders_pb2.GetOrderHistoryResponse(events=events)

    async def ConfirmOrder(self, request: orders_pb2.ConfirmOrderRequest, context: Context) -> orders_pb2.Order:
        return order_to_proto(await self._service.confirm(request.order_id, request.payment_id))

    async def RejectOrder(self, request: orders_pb2.RejectOrderRequest, context: Context) -> orders_pb2.Order:
        return order_to_proto(await self._service.reject(request.order_id, request.reason))
