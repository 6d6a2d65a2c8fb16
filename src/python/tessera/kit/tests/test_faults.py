"""Fault injection (a drill): the share it fails, and on a real in-process gRPC server what it fails and counts."""

import grpc
import pytest
from ops.v1 import dependencies_pb2, dependencies_pb2_grpc

from tessera.kit import dependencies, metrics
from tessera.kit.faults import FAULT_DETAIL, FaultInjector
from tessera.kit.grpc_client import check_health
from tessera.kit.grpc_server import GrpcServer, GrpcService
from tessera.testing.counters import count, counted


def test_no_fault_unless_a_share_is_set() -> None:
    assert not any(FaultInjector().strikes() for _ in range(1000))


@pytest.mark.parametrize(("draw", "fails"), [(0.0, True), (0.299, True), (0.3, False), (0.999, False)])
def test_a_request_fails_when_its_draw_falls_in_the_share(draw: float, fails: bool) -> None:
    assert FaultInjector(30.0, chance=lambda: draw).strikes() is fails


def test_the_share_failed_is_about_the_share_set() -> None:
    faults = FaultInjector(25.0)
    failed = sum(faults.strikes() for _ in range(20_000))
    assert 4_400 < failed < 5_600  # 25 % +- 2.2 points: more than 7 standard deviations either side


async def test_the_server_fails_calls_with_unavailable_counts_them_and_keeps_health_serving() -> None:
    report = GrpcService.of(dependencies.DependencyHealthServicer(dependencies.DependencyChecks("test")))
    server = GrpcServer([report], host="127.0.0.1", port=0, faults=FaultInjector(100.0))
    port = await server.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    handled = metrics.GRPC_SERVER_HANDLED.labels("ops.v1.DependencyHealthService", "GetDependencies", "UNAVAILABLE")
    before = count(handled)
    try:
        stub = dependencies_pb2_grpc.DependencyHealthServiceStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await stub.GetDependencies(dependencies_pb2.GetDependenciesRequest())
        assert raised.value.code() == grpc.StatusCode.UNAVAILABLE
        assert raised.value.details() == FAULT_DETAIL
        assert await check_health(channel) == "SERVING"  # the orchestrator's probe is never failed
        assert await counted(handled, before + 1) == before + 1
    finally:
        await channel.close()
        await server.stop(0)
