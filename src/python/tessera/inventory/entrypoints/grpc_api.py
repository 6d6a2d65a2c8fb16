"""inventory.v1.InventoryService over gRPC."""

from __future__ import annotations

from typing import Any

import grpc
from inventory.v1 import inventory_pb2, inventory_pb2_grpc

from tessera.inventory.adapters.messages import level_to_proto, reservation_to_proto
from tessera.inventory.service_layer import InventoryService

Context = grpc.aio.ServicerContext[Any, Any]


class InventoryGrpcApi(inventory_pb2_grpc.InventoryServiceServicer):
    def __init__(self, service: InventoryService) -> None:
        self._service = service

    async def SetStock(self, request: inventory_pb2.SetStockRequest, context: Context) -> inventory_pb2.StockLevel:
        return level_to_proto(await self._service.set_stock(request.product_id, request.on_hand))

    async def GetStock(self, request: inventory_pb2.GetStockRequest, context: Context) -> inventory_pb2.StockLevel:
        return level_to_proto(await self._service.get_stock(request.product_id))

    async def Reserve(self, request: inventory_pb2.ReserveRequest, context: Context) -> inventory_pb2.Reservation:
        lines = [(line.product_id, line.quantity) for line in request.lines]
        return reservation_to_proto(await self._service.reserve(request.order_id, lines))

    async def Release(self, request: inventory_pb2.ReleaseRequest, context: Context) -> inventory_pb2.Reservation:
        return reservation_to_proto(await self._service.release(request.order_id))

    async def Commit(self, request: inventory_pb2.CommitRequest, context: Context) -> inventory_pb2.Reservation:
        return reservation_to_proto(await self._service.commit(request.order_id))

    async def GetReservation(
        self, request: inventory_pb2.GetReservationRequest, context: Context
    ) -> inventory_pb2.Reservation:
        return reservation_to_proto(await self._service.get_reservation(request.order_id))
