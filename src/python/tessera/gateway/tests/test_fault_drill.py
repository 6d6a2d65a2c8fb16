"""The gateway under a fault drill: API calls fail with a 503 problem body before any backend is called; the
probes and /metrics never fail, and the failures are counted like real ones."""

import grpc
import httpx
import redis.asyncio as redis

from tessera.gateway.adapters.backends import Backends
from tessera.gateway.app import HTTP_REQUESTS, create_app
from tessera.kit.cache import CacheAside
from tessera.kit.faults import FAULT_DETAIL, FaultInjector


async def test_api_calls_fail_with_a_problem_body_and_probes_do_not() -> None:
    # Channels to nowhere: nothing may be called, the drill answers first (a call would fail with another status).
    channel = grpc.aio.insecure_channel("127.0.0.1:9")
    cache = CacheAside(redis.Redis(host="127.0.0.1", port=9), "test", 60)
    app = create_app(Backends(channel, channel, channel, cache), faults=FaultInjector(100.0))
    before = HTTP_REQUESTS.labels("GET", "/v1/products", "503")._value.get()
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway") as client:
            failed = await client.get("/v1/products")
            assert failed.status_code == 503
            assert failed.json() == {"status": 503, "error": "unavailable", "detail": FAULT_DETAIL}
            assert (await client.get("/healthz")).status_code == 200
            assert (await client.get("/metrics/")).status_code == 200
    finally:
        await channel.close()
    assert HTTP_REQUESTS.labels("GET", "/v1/products", "503")._value.get() == before + 1
