"""The services behind the gateway, over gRPC, and how their errors become HTTP statuses."""

from __future__ import annotations

from dataclasses import dataclass

import grpc
from orders.v1 import orders_pb2_grpc
from readmodels.v1 import readmodels_pb2_grpc

from catalog.v1 import catalog_pb2_grpc
from tessera.kit.grpc_client import check_health

# gRPC status -> HTTP status, for errors passed on to clients.
HTTP_STATUS = {
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.OUT_OF_RANGE: 400,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.FAILED_PRECONDITION: 409,
    grpc.StatusCode.ABORTED: 409,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
}


def http_status_of(error: grpc.aio.AioRpcError) -> int:
    return HTTP_STATUS.get(error.code(), 502)


@dataclass
class Backends:
    catalog_channel: grpc.aio.Channel
    orders_channel: grpc.aio.Channel
    readmodels_channel: grpc.aio.Channel

    def __post_init__(self) -> None:
        self.catalog = catalog_pb2_grpc.CatalogServiceStub(self.catalog_channel)
        self.orders = orders_pb2_grpc.OrdersServiceStub(self.orders_channel)
        self.readmodels = readmodels_pb2_grpc.ReadModelServiceStub(self.readmodels_channel)

    async def health(self) -> dict[str, str]:
        """Each dependency's gRPC health: SERVING, NOT_SERVING, or UNREACHABLE."""
        checks = {
            "catalog": (self.catalog_channel, "catalog.v1.CatalogService"),
            "orders": (self.orders_channel, "orders.v1.OrdersService"),
            "readmodels": (self.readmodels_channel, "readmodels.v1.ReadModelService"),
        }
        result = {}
        for name, (channel, service) in checks.items():
            try:
                result[name] = await check_health(channel, service, timeout=1.0)
            except grpc.aio.AioRpcError:
                result[name] = "UNREACHABLE"
        return result
