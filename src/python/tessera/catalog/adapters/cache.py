"""The product read cache in Redis (cache-aside), storing catalog.v1.Product bytes."""

from __future__ import annotations

import uuid

from google.protobuf.message import DecodeError

from catalog.v1 import catalog_pb2
from tessera.catalog import domain
from tessera.catalog.adapters.messages import product_from_proto, product_to_proto
from tessera.kit.cache import CacheAside


class RedisProductCache:
    def __init__(self, cache: CacheAside) -> None:
        self._cache = cache

    async def get(self, product_id: uuid.UUID) -> domain.Product | None:
        raw = await self._cache.get(str(product_id))
        if raw is None:
            return None
        message = catalog_pb2.Product()
        try:
            message.ParseFromString(raw)
        except DecodeError:
            return None  # an entry from an incompatible version: treat as a miss
        return product_from_proto(message)

    async def put(self, product: domain.Product) -> None:
        await self._cache.put(str(product.product_id), product_to_proto(product).SerializeToString())

    async def invalidate(self, product_id: uuid.UUID) -> None:
        await self._cache.invalidate(str(product_id))
