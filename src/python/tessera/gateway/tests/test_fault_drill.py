"""The gateway under a fault drill: API calls fail with a 503 problem body before any backend is called; the
probes and /metrics never fail, and the failures are counted like real ones."""

import json
from pathlib import Path

import grpc
import httpx
import redis.asyncio as redis

from tessera.gateway.adapters.backends import Backends
from tessera.gateway.adapters.tokens import TokenVerifier
from tessera.gateway.app import HTTP_REQUESTS, create_app
from tessera.kit.cache import CacheAside
from tessera.kit.dependencies import DependencyChecks
from tessera.kit.faults import FAULT_DETAIL, FaultInjector
from tessera.localinfra.issuer import DevIssuer


async def test_api_calls_fail_with_a_problem_body_and_probes_do_not(tmp_path: Path) -> None:
    # Channels to nowhere: nothing may be called, the drill answers first (a call would fail with another status).
    channel = grpc.aio.insecure_channel("127.0.0.1:9")
    cache = CacheAside(redis.Redis(host="127.0.0.1", port=9), "test", 60)
    issuer = DevIssuer(tmp_path)
    tokens = TokenVerifier(issuer.issuer, issuer.audience, jwks=json.dumps(issuer.jwks()))
    app = create_app(
        Backends(channel, channel, channel, channel, channel, cache, DependencyChecks("gateway")),
        tokens,
        faults=FaultInjector(100.0),
    )
    before = HTTP_REQUESTS.labels("GET", "/v1/products", "503")._value.get()
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway") as client:
            failed = await client.get("/v1/products")
            assert failed.status_code == 503
            request_id = failed.headers["X-Request-Id"]
            body = {"status": 503, "error": "unavailable", "detail": FAULT_DETAIL, "request_id": request_id}
            assert failed.json() == body
            assert (await client.get("/healthz")).status_code == 200
            assert (await client.get("/metrics/")).status_code == 200
    finally:
        await channel.close()
    assert HTTP_REQUESTS.labels("GET", "/v1/products", "503")._value.get() == before + 1
