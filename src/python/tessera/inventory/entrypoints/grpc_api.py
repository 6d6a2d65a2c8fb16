"""inventory.v1.InventoryService over gRPC."""

from __future__ import annotations

from typing import Any

import grpc
from inventory.v1 import inventory_pb2, inventory_pb2_grpc

from tessera.inventory.adapters.messages import level_to_proto, reservation_to_proto
from tessera.inventory.service_layer import InventoryService
from tessera.kit.grpc_server import status_on_error

Context = grpc.aio.ServicerContext[Any, Any]


class InventoryGrpcApi(inventory_pb2_grpc.InventoryServiceServicer):
    def __init__(self, service: InventoryService) -> None:
        self._service = service

    async def SetStock(self, request: inventory_pb2.SetStockRequest, context: Context) -> inventory_pb2.StockLevel:
        async with status_on_error(context):
            result = await self._service.set_stock(request.product_id, request.on_hand)
        return level_to_proto(result)

    async def GetStock(self, request: inventory_pb2.GetStockRequest, context: Context) -> inventory_pb2.StockLevel:
        async with status_on_error(context):
            result = await self._service.get_stock(request.product_id)
        return level_to_proto(result)

    async def Reserve(self, request: inventory_pb2.ReserveRequest, context: Context) -> inventory_pb2.Reservation:
        lines = [(line.product_id, line.quantity) for line in request.lines]
        async with status_on_error(context):
            result = await self._service.reserve(request.order_id, lines)
        return reservation_to_proto(result)

    async def Release(self, request: inventory_pb2.ReleaseRequest, context: Context) -> inventory_pb2.Reservation:
        async with status_on_error(context):
            result = await self._service.release(request.order_id)
        return reservation_to_proto(result)

    async def Commit(self, request: inventory_pb2.CommitRequest, context: Context) -> inventory_pb2.Reservation:
        async with status_on_error(context):
            result = await self._service.commit(request.order_id)
        return reservation_to_proto(result)

    async def GetReservation(
        self, request: inventory_pb2.GetReservationRequest, context: Context
    ) -> inventory_pb2.Reservation:
        async with status_on_error(context):
            result = await self._service.get_reservation(request.order_id)
        return reservation_to_proto(result)
