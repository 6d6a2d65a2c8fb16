"""The kit's gRPC server and client against real in-process servers (no mocks of grpc)."""

import asyncio
import time

import asyncpg
import grpc
import pytest

from catalog.v1 import catalog_pb2, catalog_pb2_grpc
from tessera.kit import db, errors, metrics
from tessera.kit.grpc_client import check_health, create_channel
from tessera.kit.grpc_server import GrpcServer, GrpcService
from tessera.testing.counters import count, counted

CATALOG = catalog_pb2.DESCRIPTOR.services_by_name["CatalogService"]


async def _sleep_then_echo(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
    await asyncio.sleep(float(request.decode()))
    return request


@pytest.fixture
async def slow_server():
    """A raw server with one method that sleeps as long as the request says: a stuck dependency on demand."""
    server = grpc.aio.server()
    handler = grpc.unary_unary_rpc_method_handler(_sleep_then_echo)
    server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler("test.Slow", {"Sleep": handler})])
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    yield port
    await server.stop(0)


async def test_calls_without_a_deadline_get_the_default_one(slow_server):
    channel = create_channel(f"127.0.0.1:{slow_server}", default_timeout_seconds=0.3)
    sleep = channel.unary_unary("/test.Slow/Sleep")
    try:
        started = time.monotonic()
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await sleep(b"5")
        assert raised.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        assert time.monotonic() - started < 2
        # An explicit deadline wins over the default.
        assert await sleep(b"0.5", timeout=3) == b"0.5"
    finally:
        await channel.close()


async def test_server_serves_health_and_goes_not_serving_on_shutdown():
    server = GrpcServer([], host="127.0.0.1", port=0)
    port = await server.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    try:
        assert await check_health(channel) == "SERVING"
        await server.health.enter_graceful_shutdown()
        assert await check_health(channel) == "NOT_SERVING"
    finally:
        await channel.close()
        await server.stop(0)


async def test_server_counts_rpcs_by_status_code():
    server = GrpcServer([], host="127.0.0.1", port=0)
    port = await server.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    handled = metrics.GRPC_SERVER_HANDLED.labels("grpc.health.v1.Health", "Check", "NOT_FOUND")
    before = count(handled)
    try:
        with pytest.raises(grpc.aio.AioRpcError):
            await check_health(channel, "no.such.Service")
        assert await counted(handled, before + 1) == before + 1
    finally:
        await channel.close()
        await server.stop(0)


async def _failing_server(error: Exception, observed: bool = True) -> tuple[GrpcServer, int]:
    """The kit's server with catalog's GetProduct failing with `error`, as a servicer bug or a refused value would."""

    async def get_product(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        raise error

    def register(server: grpc.aio.Server) -> None:
        handler: grpc.RpcMethodHandler[bytes, bytes] = grpc.unary_unary_rpc_method_handler(get_product)
        server.add_generic_rpc_handlers(
            [grpc.method_handlers_generic_handler(CATALOG.full_name, {"GetProduct": handler})]
        )

    server = GrpcServer([GrpcService(CATALOG, register)], host="127.0.0.1", port=0, observed=observed)
    return server, await server.start()


@pytest.mark.parametrize("observed", [True, False], ids=["kit-middleware", "bare"])
@pytest.mark.parametrize(
    ("error", "code", "details"),
    [
        (RuntimeError("secret: password=hunter2"), grpc.StatusCode.INTERNAL, "internal error"),
        (errors.NotFound("no product p-1"), grpc.StatusCode.NOT_FOUND, "no product p-1"),
        (errors.InvalidRequest({"sku": "empty"}), grpc.StatusCode.INVALID_ARGUMENT, "sku: empty"),
        (errors.ConcurrencyConflict("version 3, not 2"), grpc.StatusCode.ABORTED, "version 3, not 2"),
        (ConnectionRefusedError("127.0.0.1:5432"), grpc.StatusCode.UNAVAILABLE, "a backing store is unavailable"),
        (
            asyncpg.exceptions.CharacterNotInRepertoireError('invalid byte sequence for encoding "UTF8": 0x00'),
            grpc.StatusCode.INVALID_ARGUMENT,
            "the request holds a value that cannot be stored (e.g. a NUL character)",
        ),
    ],
)
async def test_errors_reach_the_caller_as_statuses_and_only_domain_errors_with_their_text(
    error, code, details, observed
):
    """Domain errors keep their message; the database's (registered by kit.db) and unknown ones a fixed text."""
    assert db.OUTAGE_ERRORS  # kit.db registers its errors with kit.errors on import
    server, port = await _failing_server(error, observed)
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    try:
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await channel.unary_unary(f"/{CATALOG.full_name}/GetProduct")(b"")
        assert raised.value.code() == code
        assert raised.value.details() == details
    finally:
        await channel.close()
        await server.stop(0)


def test_a_servicer_is_served_from_its_generated_base_class() -> None:
    class Catalog(catalog_pb2_grpc.CatalogServiceServicer):
        pass

    service = GrpcService.of(Catalog())  # type: ignore[abstract]  # no method is called
    assert service.descriptor is CATALOG
    with pytest.raises(TypeError, match="subclasses no generated"):
        GrpcService.of(object())


def _answering_server(answered: list[str], name: str) -> GrpcServer:
    """The kit's server whose GetProduct notes which server answered."""

    async def get_product(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        await asyncio.sleep(0.002)
        answered.append(name)
        return b""

    def register(server: grpc.aio.Server) -> None:
        handler: grpc.RpcMethodHandler[bytes, bytes] = grpc.unary_unary_rpc_method_handler(get_product)
        server.add_generic_rpc_handlers(
            [grpc.method_handlers_generic_handler(CATALOG.full_name, {"GetProduct": handler})]
        )

    return GrpcServer([GrpcService(CATALOG, register)], host="127.0.0.1", port=0)


async def _calls_every_millisecond(call: grpc.aio.UnaryUnaryMultiCallable, count: int) -> list[grpc.StatusCode]:
    """Starts `count` calls a millisecond apart; the status of each."""

    async def one() -> grpc.StatusCode:
        try:
            await call(b"")
        except grpc.aio.AioRpcError as exc:
            return exc.code()
        return grpc.StatusCode.OK

    started = []
    for _ in range(count):
        started.append(asyncio.create_task(one()))
        await asyncio.sleep(0.001)
    return list(await asyncio.gather(*started))


async def test_a_replica_that_stops_under_load_fails_no_call_of_its_callers():
    """A rolling update in small: one of two replicas stops while a caller keeps calling an idempotent method. Calls
    that reach the stopping server as it stops are cancelled by it, never run (CANCELLED, a 502 at the gateway):
    the channel retries them on the replica that stays, and every call is answered."""
    for _ in range(5):  # a stop races the calls in flight; a few rounds make a lost call likely to show
        answered: list[str] = []
        staying, stopping = _answering_server(answered, "staying"), _answering_server(answered, "stopping")
        ports = [await staying.start(), await stopping.start()]
        channel = create_channel(f"ipv4:127.0.0.1:{ports[0]},127.0.0.1:{ports[1]}", services=[CATALOG])
        call = channel.unary_unary(f"/{CATALOG.full_name}/GetProduct")
        try:
            await call(b"", wait_for_ready=True)  # both connected and SERVING before the load begins
            while "stopping" not in answered:
                await call(b"")

            load = asyncio.create_task(_calls_every_millisecond(call, 600))
            await asyncio.sleep(0.2)
            await stopping.stop(grace=1.0)
            codes = await load
            assert set(codes) == {grpc.StatusCode.OK}, [c.name for c in codes if c != grpc.StatusCode.OK]
            assert answered[-1] == "staying"
        finally:
            await channel.close()
            await staying.stop(0)
