"""Catalog reads that outlive a catalog outage: the last good answers, kept in Redis."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import grpc
from google.protobuf.message import Message

from catalog.v1 import catalog_pb2, catalog_pb2_grpc
from tessera.kit import resilience
from tessera.kit.cache import CacheAside
from tessera.kit.logs import get_logger

log = get_logger(__name__)

MessageT = TypeVar("MessageT", bound=Message)


class FallbackCatalog:
    """Catalog reads that outlive a catalog outage.

    Every good answer is kept in Redis (shared by all gateway replicas); when the catalog fails (unavailable,
    timed out, or its breaker is open) the last good answer is served instead, flagged as stale. Answers of a
    working catalog (NOT_FOUND, INVALID_ARGUMENT) pass through: only outages fall back.
    """

    # An answer already in the fallback cache is written again only after this long (to renew its TTL), not on
    # every read: a Redis write per read was a third of the read path's round trips.
    REFRESH_SECONDS = 60.0
    REMEMBERED = 10_000  # answers whose last write is remembered; beyond, the oldest are forgotten (and rewritten)

    def __init__(self, stub: catalog_pb2_grpc.CatalogServiceStub, cache: CacheAside) -> None:
        self._stub: Any = stub  # the generated stubs are typed for sync channels; on aio channels calls are awaitables
        self._cache = cache
        self._written: dict[str, tuple[bytes, float]] = {}  # key -> (what was written, when)

    async def get_product(self, product_id: str) -> tuple[catalog_pb2.Product, bool]:
        return await self._read(
            f"product:{product_id}",
            lambda: self._stub.GetProduct(catalog_pb2.GetProductRequest(product_id=product_id)),
            catalog_pb2.Product,
        )

    async def list_products(self, page_size: int, page_token: str) -> tuple[catalog_pb2.ListProductsResponse, bool]:
        return await self._read(
            f"list:{page_size}:{page_token}",
            lambda: self._stub.ListProducts(
                catalog_pb2.ListProductsRequest(page_size=page_size, page_token=page_token)
            ),
            catalog_pb2.ListProductsResponse,
        )

    async def _read(
        self, key: str, call: Callable[[], Awaitable[MessageT]], message_type: type[MessageT]
    ) -> tuple[MessageT, bool]:
        """(answer, stale): the catalog's answer, or the cached one when the catalog is out."""
        try:
            reply = await call()
        except grpc.aio.AioRpcError as exc:
            if exc.code() not in resilience.FAILURE_CODES:
                raise
            cached = await self._cache.get(key)
            if cached is None:
                raise
            log.warning("catalog unavailable; serving the last good answer", key=key, code=exc.code().name)
            stale = message_type()
            stale.ParseFromString(cached)
            return stale, True
        await self._keep(key, reply.SerializeToString())
        return reply, False

    async def _keep(self, key: str, value: bytes) -> None:
        """Writes the answer to the fallback cache if it changed or its last write is getting old."""
        now = time.monotonic()
        written = self._written.get(key)
        if written is not None and written[0] == value and now - written[1] < self.REFRESH_SECONDS:
            return
        await self._cache.put(key, value)
        self._written.pop(key, None)
        self._written[key] = (value, now)  # most recent last: the first entries are the oldest
        if len(self._written) > self.REMEMBERED:
            del self._written[next(iter(self._written))]
