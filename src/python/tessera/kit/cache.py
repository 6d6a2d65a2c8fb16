"""redis.asyncio clients and a cache-aside helper.

The cache is never the source of truth: if Redis fails, reads fall through to the owner of the data and the
failure is logged and counted, so an outage of Redis slows a service down but does not break it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import redis.asyncio as redis
from redis.exceptions import RedisError

from tessera.kit.logs import get_logger
from tessera.kit.metrics import CACHE_REQUESTS

log = get_logger(__name__)


def create_redis(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_timeout=1.0, socket_connect_timeout=1.0, health_check_interval=30)


class CacheAside:
    """Bytes values under `namespace:key`, with a TTL; `load` runs on a miss and its result is stored."""

    def __init__(self, client: redis.Redis, namespace: str, ttl_seconds: int) -> None:
        self._client = client
        self._namespace = namespace
        self._ttl = ttl_seconds

    def _key(self, key: str) -> str:
        return f"{self._namespace}:{key}"

    async def get(self, key: str) -> bytes | None:
        try:
            value: bytes | None = await self._client.get(self._key(key))
        except RedisError as exc:
            CACHE_REQUESTS.labels(self._namespace, "error").inc()
            log.warning("cache read failed", cache=self._namespace, error=str(exc))
            return None
        CACHE_REQUESTS.labels(self._namespace, "hit" if value is not None else "miss").inc()
        return value

    async def put(self, key: str, value: bytes) -> None:
        try:
            await self._client.set(self._key(key), value, ex=self._ttl)
        except RedisError as exc:
            log.warning("cache write failed", cache=self._namespace, error=str(exc))

    async def invalidate(self, key: str) -> None:
        """Deletes the entry after a write. On a Redis failure the write still stands; the stale entry then lives
        at most its TTL, and the error is logged and counted rather than failing the caller's committed write.
        """
        try:
            await self._client.delete(self._key(key))
        except RedisError as exc:
            CACHE_REQUESTS.labels(self._namespace, "invalidate_error").inc()
            log.error("cache invalidation failed", cache=self._namespace, key=key, error=str(exc))

    async def get_or_load(self, key: str, load: Callable[[], Awaitable[bytes | None]]) -> bytes | None:
        cached = await self.get(key)
        if cached is not None:
            return cached
        loaded = await load()
        if loaded is not None:
            await self.put(key, loaded)
        return loaded
