"""How the backends' answers become HTTP: the status of each gRPC error passed on to clients, and the header
of an answer served from the fallback cache."""

from __future__ import annotations

import grpc

# Set on answers served from the fallback cache while the catalog is down.
DEGRADED_HEADER = "X-Tessera-Degraded"
CATALOG_FROM_CACHE = "catalog-cache"

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
