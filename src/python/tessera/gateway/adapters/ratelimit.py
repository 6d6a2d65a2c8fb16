"""A per-client rate limit, counted in Redis so that every gateway replica shares it (the `limits` library)."""

from __future__ import annotations

import math
import time

from limits import RateLimitItem, parse_many
from limits.aio.storage import RedisStorage
from limits.aio.strategies import SlidingWindowCounterRateLimiter


class RateLimiter:
    def __init__(self, redis_url: str, limits: str) -> None:
        """`limits`: e.g. "20/second;600/minute" (limits' notation); each must hold."""
        self._items: list[RateLimitItem] = parse_many(limits)
        uri = redis_url.replace("redis://", "async+redis://", 1).replace("rediss://", "async+rediss://", 1)
        self._storage = RedisStorage(uri, implementation="redispy", key_prefix="tessera-rate")
        # Sliding-window counters: two counters a window in Redis, no burst of twice the limit at a window edge.
        self._limiter = SlidingWindowCounterRateLimiter(self._storage)

    async def retry_after(self, client: str) -> int | None:
        """Counts one request of `client`; None if it is within every limit, else seconds until it would be."""
        for item in self._items:
            if not await self._limiter.hit(item, client):
                stats = await self._limiter.get_window_stats(item, client)
                return max(1, math.ceil(stats.reset_time - time.time()))
        return None

    async def check(self) -> bool:
        return bool(await self._storage.check())
