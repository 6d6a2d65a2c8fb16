"""The saga over gRPC, against mocks made from its peers' contracts: no inventory, payments or orders service runs.

The driver and its gRPC participants run as in production; the mocks answer as the real services would and
record what the saga sent, so each step's request and the compensations are checked on the wire.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass

import grpc
import pytest
from inventory.v1 import inventory_pb2, inventory_pb2_grpc
from orders.v1 import orders_pb2, orders_pb2_grpc
from payments.v1 import payments_pb2, payments_pb2_grpc

from tessera.kit.grpc_client import create_channel
from tessera.saga.adapters.participants import GrpcParticipants, ParticipantErrors
from tessera.saga.domain import Line, Saga, State
from tessera.saga.service_layer import SagaDriver
from tessera.saga.tests.fakes import FakeRepository
from tessera.testing.mocks import ServiceMock

SAGA = Saga("o-1", State.STARTED, (Line("p-1", 2), Line("p-2", 1)), 1500, "EUR", "pm-1")
AUTHORIZED = {"paymentId": "pay-1", "status": "PAYMENT_STATUS_AUTHORIZED"}


@dataclass
class Peers:
    inventory: ServiceMock
    payments: ServiceMock
    orders: ServiceMock

    async def drive(self, saga: Saga = SAGA) -> tuple[State | None, FakeRepository]:
        repository = FakeRepository()
        await repository.start(saga, "e-1")
        async with AsyncExitStack() as stack:
            channels = []
            for name, mock in (("inventory", self.inventory), ("payments", self.payments), ("orders", self.orders)):
                target = await stack.enter_async_context(mock.serving())
                # The kit's channel, as the saga's own: a deadline on every call, retries, a breaker.
                channel = create_channel(target, dependency=name, services=[mock.service], default_timeout_seconds=0.5,
                                         outer=[ParticipantErrors(mock.service)])  # fmt: skip
                channels.append(await stack.enter_async_context(channel))
            driver = SagaDriver(repository, GrpcParticipants(*channels), owner="w-1", step_timeout_seconds=1)
            return await driver.drive(saga.order_id), repository

    def calls(self) -> dict[str, list[str]]:
        return {"inventory": self.inventory.calls(), "payments": self.payments.calls(), "orders": self.orders.calls()}


@pytest.fixture
async def peers() -> AsyncIterator[Peers]:
    peers = Peers(
        ServiceMock.of(inventory_pb2_grpc.InventoryServiceStub),
        ServiceMock.of(payments_pb2_grpc.PaymentsServiceStub),
        ServiceMock.of(orders_pb2_grpc.OrdersServiceStub),
    )
    yield peers
    assert peers.inventory.violations == peers.payments.violations == peers.orders.violations == []


def stock_reserved(peers: Peers) -> None:
    peers.inventory.on("Reserve").returns({"status": "RESERVATION_STATUS_RESERVED"}, echo=True)


async def test_an_order_is_reserved_paid_confirmed_captured_and_committed(peers: Peers) -> None:
    stock_reserved(peers)
    peers.payments.on("Authorize").returns(AUTHORIZED, echo=True)
    peers.payments.on("Capture").returns({"status": "PAYMENT_STATUS_CAPTURED"}, echo=True)
    peers.orders.on("ConfirmOrder").returns({"status": "ORDER_STATUS_CONFIRMED"}, echo=True)
    peers.inventory.on("Commit").returns({"status": "RESERVATION_STATUS_COMMITTED"}, echo=True)

    state, _ = await peers.drive()

    assert state is State.COMPLETED
    assert peers.calls() == {
        "inventory": ["Reserve", "Commit"],
        "payments": ["Authorize", "Capture"],
        "orders": ["ConfirmOrder"],
    }
    (reserve,) = peers.inventory.requests("Reserve")
    assert [(line.product_id, line.quantity) for line in reserve.lines] == [("p-1", 2), ("p-2", 1)]
    (authorize,) = peers.payments.requests("Authorize")
    assert (authorize.order_id, authorize.amount_cents, authorize.currency) == ("o-1", 1500, "EUR")
    assert authorize.payment_method_id == "pm-1" and authorize.idempotency_key
    assert peers.orders.requests("ConfirmOrder") == [orders_pb2.ConfirmOrderRequest(order_id="o-1", payment_id="pay-1")]
    assert peers.payments.requests("Capture") == [payments_pb2.CaptureRequest(payment_id="pay-1")]


async def test_out_of_stock_rejects_the_order_and_never_asks_for_payment(peers: Peers) -> None:
    peers.inventory.on("Reserve").returns({"status": "RESERVATION_STATUS_REJECTED", "reason": "p-2: 0 left"}, echo=True)
    peers.orders.on("RejectOrder").returns({"status": "ORDER_STATUS_REJECTED"}, echo=True)
    peers.inventory.on("Release").returns({"status": "RESERVATION_STATUS_REJECTED"}, echo=True)  # nothing was held

    state, repository = await peers.drive()

    assert state is State.REJECTED
    assert peers.payments.calls() == []
    assert peers.orders.requests("RejectOrder") == [orders_pb2.RejectOrderRequest(order_id="o-1", reason="p-2: 0 left")]
    assert repository.sagas["o-1"].reason == "p-2: 0 left"


async def test_a_declined_card_releases_the_stock_and_rejects_the_order(peers: Peers) -> None:
    stock_reserved(peers)
    peers.payments.on("Authorize").returns({"status": "PAYMENT_STATUS_DECLINED", "declineReason": "insufficient funds"})
    peers.inventory.on("Release").returns({"status": "RESERVATION_STATUS_RELEASED"}, echo=True)
    peers.orders.on("RejectOrder").returns({"status": "ORDER_STATUS_REJECTED"}, echo=True)

    state, _ = await peers.drive()

    assert state is State.REJECTED
    assert peers.inventory.requests("Release") == [inventory_pb2.ReleaseRequest(order_id="o-1")]
    assert peers.payments.calls() == ["Authorize"]  # nothing to void
    (reject,) = peers.orders.requests("RejectOrder")
    assert "insufficient funds" in reject.reason


async def test_an_order_cancelled_meanwhile_voids_the_payment_and_releases_the_stock(peers: Peers) -> None:
    stock_reserved(peers)
    peers.payments.on("Authorize").returns(AUTHORIZED, echo=True)
    peers.orders.on("ConfirmOrder").fails(grpc.StatusCode.FAILED_PRECONDITION, "order o-1 is CANCELLED")
    peers.orders.on("RejectOrder").returns({"status": "ORDER_STATUS_CANCELLED"}, echo=True)  # already over: a no-op
    peers.payments.on("CancelPayment").returns({"status": "PAYMENT_STATUS_VOIDED"}, echo=True)
    peers.inventory.on("Release").returns({"status": "RESERVATION_STATUS_RELEASED"}, echo=True)

    state, _ = await peers.drive()

    assert state is State.REJECTED
    assert [request.payment_id for request in peers.payments.requests("CancelPayment")] == ["pay-1"]
    assert peers.inventory.requests("Release") == [inventory_pb2.ReleaseRequest(order_id="o-1")]
    assert "Capture" not in peers.payments.calls() and "Commit" not in peers.inventory.calls()


async def test_an_authorization_lost_in_a_timeout_is_found_by_its_key_and_voided(peers: Peers) -> None:
    stock_reserved(peers)

    async def late_until_the_order_is_rejected(request: payments_pb2.AuthorizeRequest) -> dict[str, str]:
        if not peers.orders.requests("RejectOrder"):
            await asyncio.sleep(3)  # past the call's deadline: the saga cannot know whether it went through
        return AUTHORIZED

    peers.payments.on("Authorize").returns(late_until_the_order_is_rejected, echo=True)
    peers.payments.on("CancelPayment").returns({"status": "PAYMENT_STATUS_VOIDED"}, echo=True)
    peers.inventory.on("Release").returns({"status": "RESERVATION_STATUS_RELEASED"}, echo=True)
    peers.orders.on("RejectOrder").returns({"status": "ORDER_STATUS_REJECTED"}, echo=True)

    state, repository = await peers.drive()

    assert state is State.REJECTED
    assert repository.sagas["o-1"].reason == "authorize_payment timed out"
    keys = {request.idempotency_key for request in peers.payments.requests("Authorize")}
    assert len(keys) == 1 and len(peers.payments.requests("Authorize")) >= 2  # asked again with the same key
    assert [request.payment_id for request in peers.payments.requests("CancelPayment")] == ["pay-1"]


async def test_a_refusal_after_the_pivot_goes_forward_again_and_the_order_stays_confirmed(peers: Peers) -> None:
    stock_reserved(peers)
    peers.payments.on("Authorize").returns(AUTHORIZED, echo=True)
    peers.orders.on("ConfirmOrder").returns({"status": "ORDER_STATUS_CONFIRMED"}, echo=True)
    peers.payments.on("Capture").fails(grpc.StatusCode.FAILED_PRECONDITION, "payment is being reviewed", times=1)
    peers.payments.on("Capture").returns({"status": "PAYMENT_STATUS_CAPTURED"}, echo=True)
    # The saga tries to compensate; the orders service refuses to reject a confirmed order, so it goes forward.
    peers.orders.on("RejectOrder").fails(grpc.StatusCode.FAILED_PRECONDITION, "order o-1 is CONFIRMED")
    peers.inventory.on("Commit").returns({"status": "RESERVATION_STATUS_COMMITTED"}, echo=True)

    state, _ = await peers.drive()

    assert state is State.COMPLETED
    assert len(peers.payments.requests("Capture")) == 2
    assert "Release" not in peers.inventory.calls() and "CancelPayment" not in peers.payments.calls()


async def test_a_refused_compensation_is_asked_again_until_it_is_done(peers: Peers) -> None:
    peers.inventory.on("Reserve").returns({"status": "RESERVATION_STATUS_REJECTED", "reason": "p-2: 0 left"}, echo=True)
    peers.orders.on("RejectOrder").returns({"status": "ORDER_STATUS_REJECTED"}, echo=True)
    peers.inventory.on("Release").fails(grpc.StatusCode.FAILED_PRECONDITION, "reservation locked", times=1)
    peers.inventory.on("Release").returns({"status": "RESERVATION_STATUS_RELEASED"}, echo=True)

    state, _ = await peers.drive()

    assert state is State.REJECTED
    assert len(peers.inventory.requests("Release")) == 2
