import uuid

import pytest

from tessera.kit.cache import CacheAside, create_redis
from tessera.localinfra.process import free_port

pytestmark = pytest.mark.integration


async def test_second_read_is_a_hit_and_load_runs_once(redis_url):
    client = create_redis(redis_url)
    cache = CacheAside(client, f"test-{uuid.uuid4().hex}", ttl_seconds=60)
    loads = 0

    async def load():
        nonlocal loads
        loads += 1
        return b"value"

    try:
        assert await cache.get_or_load("k", load) == b"value"
        assert await cache.get_or_load("k", load) == b"value"
        assert loads == 1
        await cache.invalidate("k")
        assert await cache.get("k") is None
        assert await cache.get_or_load("k", load) == b"value"
        assert loads == 2
    finally:
        await client.aclose()


async def test_a_dead_redis_degrades_to_loading():
    client = create_redis(f"redis://127.0.0.1:{free_port()}/0")  # nothing listens there
    cache = CacheAside(client, "dead", ttl_seconds=60)
    try:
        assert await cache.get_or_load("k", lambda: _value(b"from the source")) == b"from the source"
        await cache.invalidate("k")  # logged, not raised: the caller's write already committed
    finally:
        await client.aclose()


async def _value(value: bytes) -> bytes:
    return value
