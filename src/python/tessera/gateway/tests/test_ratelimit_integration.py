"""The rate limit on a real Redis: two gateway replicas share one count per caller."""

from __future__ import annotations

import uuid

import pytest

from tessera.gateway.adapters.ratelimit import RateLimiter

pytestmark = pytest.mark.integration


async def test_two_replicas_share_the_count_and_callers_are_counted_apart(redis_url: str) -> None:
    replicas = [RateLimiter(redis_url, "5/minute"), RateLimiter(redis_url, "5/minute")]
    caller, other = f"c-{uuid.uuid4().hex}", f"c-{uuid.uuid4().hex}"
    waits = [await replicas[i % 2].retry_after(caller) for i in range(8)]
    assert waits[:5] == [None] * 5  # five requests, across both replicas, then no more
    assert all(wait is not None and 1 <= wait <= 60 for wait in waits[5:]), waits
    assert await replicas[1].retry_after(other) is None
    assert await replicas[0].check()


async def test_every_limit_must_hold(redis_url: str) -> None:
    limiter = RateLimiter(redis_url, "100/minute;3/second")
    caller = f"c-{uuid.uuid4().hex}"
    assert [await limiter.retry_after(caller) is None for _ in range(4)] == [True, True, True, False]
