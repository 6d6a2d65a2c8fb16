"""The contract mocks, called over real gRPC the way a service's client calls its peer."""

from __future__ import annotations

import grpc
import pytest
from inventory.v1 import inventory_pb2, inventory_pb2_grpc
from payments.v1 import payments_pb2

from tessera.kit.grpc_client import check_health
from tessera.testing.mocks import ContractViolation, ServiceMock

RESERVE = inventory_pb2.ReserveRequest(order_id="o-1", lines=[inventory_pb2.Line(product_id="p-1", quantity=2)])


@pytest.fixture
def inventory() -> ServiceMock:
    return ServiceMock.of(inventory_pb2_grpc.InventoryServiceStub)


async def call(mock: ServiceMock, method: str, request: object, timeout: float = 5) -> object:
    async with mock.serving() as target, grpc.aio.insecure_channel(target) as channel:
        stub = inventory_pb2_grpc.InventoryServiceStub(channel)
        return await getattr(stub, method)(request, timeout=timeout)


async def test_a_programmed_answer_is_served_and_the_request_recorded_as_its_type(inventory: ServiceMock) -> None:
    inventory.on("Reserve").returns({"status": "RESERVATION_STATUS_RESERVED"}, echo=True)

    reply = await call(inventory, "Reserve", RESERVE)

    # echo: what the request shares with a Reservation (its order id and lines), then the programmed fields
    reserved = inventory_pb2.RESERVATION_STATUS_RESERVED
    assert reply == inventory_pb2.Reservation(order_id="o-1", lines=RESERVE.lines, status=reserved)
    assert inventory.requests("Reserve") == [RESERVE]
    assert inventory.calls() == ["Reserve"]


async def test_errors_delays_and_answers_in_turn(inventory: ServiceMock) -> None:
    inventory.on("Commit").fails(grpc.StatusCode.UNAVAILABLE, "down", times=1).delays(0.5).returns({})

    async with inventory.serving() as target, grpc.aio.insecure_channel(target) as channel:
        stub = inventory_pb2_grpc.InventoryServiceStub(channel)
        commit = inventory_pb2.CommitRequest(order_id="o-1")
        with pytest.raises(grpc.aio.AioRpcError) as first:
            await stub.Commit(commit, timeout=5)
        with pytest.raises(grpc.aio.AioRpcError) as second:
            await stub.Commit(commit, timeout=0.1)  # the answer takes 0.5 s
        third = await stub.Commit(commit, timeout=5)

    assert (first.value.code(), first.value.details()) == (grpc.StatusCode.UNAVAILABLE, "down")
    assert second.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert third == inventory_pb2.Reservation()
    assert len(inventory.requests("Commit")) == 3


async def test_a_method_with_no_answer_is_unimplemented_unless_the_mock_echoes() -> None:
    strict = ServiceMock.of(inventory_pb2_grpc.InventoryServiceStub)
    with pytest.raises(grpc.aio.AioRpcError) as unanswered:
        await call(strict, "Release", inventory_pb2.ReleaseRequest(order_id="o-2"))
    assert unanswered.value.code() == grpc.StatusCode.UNIMPLEMENTED

    lenient = ServiceMock.named("inventory.v1.InventoryService", echo_by_default=True)
    assert await call(lenient, "Release", inventory_pb2.ReleaseRequest(order_id="o-2")) == inventory_pb2.Reservation(
        order_id="o-2"
    )


async def test_an_answer_off_the_contract_is_refused_when_programmed_or_made(inventory: ServiceMock) -> None:
    with pytest.raises(ContractViolation, match="inventory.v1.Reservation, not payments.v1.Payment"):
        inventory.on("Reserve").returns(payments_pb2.Payment())
    with pytest.raises(ContractViolation, match="no_such_field"):
        inventory.on("Reserve").returns({"no_such_field": 1})
    with pytest.raises(ContractViolation, match="has no method 'Teleport'"):
        inventory.on("Teleport")

    inventory.on("Reserve").returns(lambda request: payments_pb2.Payment(payment_id=request.order_id))
    with pytest.raises(grpc.aio.AioRpcError) as made:
        await call(inventory, "Reserve", RESERVE)
    assert made.value.code() == grpc.StatusCode.INTERNAL
    assert inventory.violations == [made.value.details()]


async def test_a_request_off_the_contract_is_invalid_argument_and_a_violation(inventory: ServiceMock) -> None:
    inventory.on("Reserve").returns({})
    # A client on another version of the contract: field 9 (varint 5: tag 9 << 3 = 0x48) means nothing here.
    stray = RESERVE.SerializeToString() + b"\x48\x05"
    async with inventory.serving() as target, grpc.aio.insecure_channel(target) as channel:
        reserve: grpc.aio.UnaryUnaryMultiCallable[bytes, bytes] = channel.unary_unary(
            "/inventory.v1.InventoryService/Reserve"
        )
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await reserve(stray, timeout=5)

    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "#9" in (refused.value.details() or "")
    assert inventory.requests("Reserve") == [] and len(inventory.violations) == 1


async def test_a_callable_answer_sees_the_request_and_the_mock_reports_healthy(inventory: ServiceMock) -> None:
    async def stock_of(request: inventory_pb2.GetStockRequest) -> dict[str, object]:
        return {"productId": request.product_id, "onHand": 7}

    inventory.on("GetStock").returns(stock_of)
    async with inventory.serving() as target, grpc.aio.insecure_channel(target) as channel:
        stock = await inventory_pb2_grpc.InventoryServiceStub(channel).GetStock(
            inventory_pb2.GetStockRequest(product_id="p-9"), timeout=5
        )
        health = await check_health(channel, "inventory.v1.InventoryService")

    assert (stock.product_id, stock.on_hand) == ("p-9", 7)
    assert health == "SERVING"
