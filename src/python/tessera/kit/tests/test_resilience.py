"""Retries, breakers and round robin of the kit's channels, against real gRPC servers and a real DNS server."""

from __future__ import annotations

import asyncio
import socket
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import grpc
import pytest
from dnslib import QTYPE, RR, A
from dnslib.server import BaseResolver, DNSServer

from catalog.v1 import catalog_pb2
from tessera.kit import resilience
from tessera.kit.grpc_client import create_channel

CATALOG = catalog_pb2.DESCRIPTOR.services_by_name["CatalogService"]
GET = "/catalog.v1.CatalogService/GetProduct"  # NO_SIDE_EFFECTS in the proto: retried
CREATE = "/catalog.v1.CatalogService/CreateProduct"  # not marked: never retried

Behaviour = Callable[[grpc.aio.ServicerContext], Awaitable[None]]


@dataclass
class FlakyCatalog:
    """A catalog look-alike whose answers the test scripts: each call pops the next behaviour (default: answer)."""

    port: int = 0
    script: list[Behaviour] = field(default_factory=list)
    calls: Counter[str] = field(default_factory=Counter)

    def handler(self, method: str) -> grpc.RpcMethodHandler:
        async def handle(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
            self.calls[method] += 1
            if self.script:
                await self.script.pop(0)(context)
            return catalog_pb2.Product(product_id="p1").SerializeToString()

        return grpc.unary_unary_rpc_method_handler(handle)


async def unavailable(context: grpc.aio.ServicerContext) -> None:
    await context.abort(grpc.StatusCode.UNAVAILABLE, "scripted outage")


async def not_found(context: grpc.aio.ServicerContext) -> None:
    await context.abort(grpc.StatusCode.NOT_FOUND, "no such product")


async def stuck(_: grpc.aio.ServicerContext) -> None:
    await asyncio.sleep(5)


async def serve(catalog: FlakyCatalog, host: str = "127.0.0.1") -> grpc.aio.Server:
    server = grpc.aio.server()
    handlers = {name: catalog.handler(name) for name in ("GetProduct", "CreateProduct")}
    server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler("catalog.v1.CatalogService", handlers)])
    catalog.port = server.add_insecure_port(f"{host}:{catalog.port}")
    await server.start()
    return server


@pytest.fixture
async def flaky() -> AsyncIterator[FlakyCatalog]:
    catalog = FlakyCatalog()
    server = await serve(catalog)
    yield catalog
    await server.stop(0)


def call(channel: grpc.aio.Channel, method: str, timeout: float | None = None) -> Awaitable[bytes]:
    stub = channel.unary_unary(method, request_serializer=lambda m: m, response_deserializer=lambda m: m)
    return stub(catalog_pb2.GetProductRequest(product_id="p1").SerializeToString(), timeout=timeout)


def test_only_methods_marked_idempotent_in_the_proto_get_retries() -> None:
    assert set(resilience.idempotent_methods(CATALOG)) == {"GetProduct", "ListProducts"}


async def test_idempotent_calls_are_retried_on_unavailable_and_others_are_not(flaky: FlakyCatalog) -> None:
    channel = create_channel(f"127.0.0.1:{flaky.port}", services=[CATALOG], breaker=None)
    try:
        flaky.script = [unavailable, unavailable]
        await call(channel, GET)  # third attempt answers
        assert flaky.calls["GetProduct"] == 3

        flaky.script = [unavailable]
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await call(channel, CREATE)
        assert raised.value.code() == grpc.StatusCode.UNAVAILABLE
        assert flaky.calls["CreateProduct"] == 1
    finally:
        await channel.close()


async def test_retries_stop_at_max_attempts_and_never_outlive_the_deadline(flaky: FlakyCatalog) -> None:
    policy = resilience.RetryPolicy(max_attempts=4, initial_backoff_seconds=0.2, max_backoff_seconds=0.2)
    channel = create_channel(f"127.0.0.1:{flaky.port}", services=[CATALOG], retry=policy, breaker=None)
    try:
        flaky.script = [unavailable] * 10
        with pytest.raises(grpc.aio.AioRpcError):
            await call(channel, GET, timeout=5)
        assert flaky.calls["GetProduct"] == 4

        flaky.calls.clear()
        flaky.script = [unavailable] * 10
        started = time.monotonic()
        with pytest.raises(grpc.aio.AioRpcError):
            await call(channel, GET, timeout=0.25)
        assert time.monotonic() - started < 1.0  # the deadline, not the retries, bounds the call
        assert flaky.calls["GetProduct"] < 4
    finally:
        await channel.close()


async def test_breaker_opens_on_failures_fails_fast_and_closes_after_recovery(flaky: FlakyCatalog) -> None:
    breakers = resilience.CircuitBreakers()
    policy = resilience.BreakerPolicy(failure_threshold=3, reset_seconds=0.5)
    channel = create_channel(
        f"127.0.0.1:{flaky.port}", dependency="flaky", breaker=policy, breakers=breakers, retry=None
    )
    state = resilience.BREAKER_STATE.labels("flaky")
    try:
        # Answers of a healthy service (NOT_FOUND) are not failures.
        flaky.script = [not_found] * 5
        for _ in range(5):
            with pytest.raises(grpc.aio.AioRpcError):
                await call(channel, GET)
        assert breakers.state("flaky") == "closed"

        flaky.script = [stuck] * 3
        for _ in range(3):
            with pytest.raises(grpc.aio.AioRpcError) as raised:
                await call(channel, GET, timeout=0.1)
            assert raised.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        assert breakers.state("flaky") == "opened"
        assert state._value.get() == 1

        calls_before = sum(flaky.calls.values())
        started = time.monotonic()
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await call(channel, GET, timeout=2)
        assert time.monotonic() - started < 1.0  # failed at once, not after the 2 s deadline
        assert sum(flaky.calls.values()) == calls_before
        assert raised.value.code() == grpc.StatusCode.UNAVAILABLE
        assert resilience.is_breaker_open(raised.value)
        assert "circuit breaker open" in (raised.value.details() or "")

        await asyncio.sleep(0.6)  # reset time passed: the next call probes, succeeds, and closes the breaker
        await call(channel, GET)
        assert breakers.state("flaky") == "closed"
        assert state._value.get() == 0
    finally:
        await channel.close()


class _TwoReplicas(BaseResolver):
    """Answers `catalog.test` with two A records, as a Kubernetes headless Service answers with its pods."""

    def resolve(self, request, handler):  # dnslib is untyped
        reply = request.reply()
        if str(request.q.qname).rstrip(".") == "catalog.test" and request.q.qtype == QTYPE.A:
            for address in ("127.0.0.1", "127.0.0.2"):
                reply.add_answer(RR(request.q.qname, QTYPE.A, rdata=A(address), ttl=30))
        return reply


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_calls_are_balanced_round_robin_over_every_address_dns_returns() -> None:
    dns = DNSServer(_TwoReplicas(), port=_free_udp_port(), address="127.0.0.1")
    dns.start_thread()
    replicas = [FlakyCatalog(), FlakyCatalog()]
    first = await serve(replicas[0], "127.0.0.1")
    replicas[1].port = replicas[0].port  # the same port on another loopback address, like two pods
    second = await serve(replicas[1], "127.0.0.2")
    channel = create_channel(f"dns://127.0.0.1:{dns.server.server_address[1]}/catalog.test:{replicas[0].port}")
    try:
        # Until both subchannels are connected, round robin uses the ready one: warm up, then count.
        deadline = time.monotonic() + 5
        while min(r.calls["GetProduct"] for r in replicas) == 0 and time.monotonic() < deadline:
            await call(channel, GET, timeout=3)
        for replica in replicas:
            replica.calls.clear()
        for _ in range(20):
            await call(channel, GET, timeout=3)
        assert [r.calls["GetProduct"] for r in replicas] == [10, 10]

        # A replica going away: the channel moves its calls to the other one.
        await second.stop(0)
        for _ in range(6):
            await call(channel, GET, timeout=3)
        assert replicas[0].calls["GetProduct"] + replicas[1].calls["GetProduct"] == 26
    finally:
        await channel.close()
        await first.stop(0)
        await second.stop(0)
        dns.stop()
