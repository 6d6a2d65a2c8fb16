"""The saga's participants over gRPC: inventory, payments and orders. Every call is idempotent per order."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import grpc
from google.protobuf.descriptor import ServiceDescriptor
from grpc.aio import ClientCallDetails
from inventory.v1 import inventory_pb2, inventory_pb2_grpc
from orders.v1 import orders_pb2, orders_pb2_grpc
from payments.v1 import payments_pb2, payments_pb2_grpc

from tessera.saga.domain import Saga, StepFailed, TransientError

# Statuses that may pass: the step is retried. Any other is the participant refusing the step.
_TRANSIENT = {
    grpc.StatusCode.UNAVAILABLE,
    grpc.StatusCode.DEADLINE_EXCEEDED,
    grpc.StatusCode.ABORTED,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
    grpc.StatusCode.CANCELLED,
}


class ParticipantErrors(grpc.aio.UnaryUnaryClientInterceptor):
    """Puts a participant's failures in the saga's terms, for every call of its API (`service`): a status that
    may pass becomes TransientError, any other StepFailed with the participant's reason. Outermost on the channel,
    so after the kit's retries and breaker; the kit's own calls on it (health checks) keep their errors."""

    def __init__(self, service: ServiceDescriptor) -> None:
        self._prefix = f"/{service.full_name}/"

    async def intercept_unary_unary(
        self,
        continuation: Callable[[ClientCallDetails, Any], Awaitable[Any]],
        client_call_details: ClientCallDetails,
        request: Any,
    ) -> Any:
        method = client_call_details.method
        if not (method.decode() if isinstance(method, bytes) else method).startswith(self._prefix):
            return await continuation(client_call_details, request)
        try:
            # The kit's inner interceptors (the breaker) await the call themselves: its error can come from either.
            return await (await continuation(client_call_details, request))
        except grpc.aio.AioRpcError as exc:
            if exc.code() in _TRANSIENT:
                raise TransientError(f"{exc.code().name}: {exc.details()}") from exc
            raise StepFailed(exc.details() or exc.code().name) from exc


class GrpcParticipants:
    """The participants' calls, on channels carrying `ParticipantErrors` for their service."""

    def __init__(self, inventory: grpc.aio.Channel, payments: grpc.aio.Channel, orders: grpc.aio.Channel) -> None:
        self._inventory = inventory_pb2_grpc.InventoryServiceStub(inventory)
        self._payments = payments_pb2_grpc.PaymentsServiceStub(payments)
        self._orders = orders_pb2_grpc.OrdersServiceStub(orders)

    async def reserve_stock(self, saga: Saga) -> None:
        lines = [inventory_pb2.Line(product_id=line.product_id, quantity=line.quantity) for line in saga.lines]
        reservation = await self._inventory.Reserve(inventory_pb2.ReserveRequest(order_id=saga.order_id, lines=lines))
        if reservation.status != inventory_pb2.RESERVATION_STATUS_RESERVED:
            raise StepFailed(reservation.reason or "out of stock")

    async def release_stock(self, saga: Saga) -> None:
        await self._inventory.Release(inventory_pb2.ReleaseRequest(order_id=saga.order_id))

    async def commit_stock(self, saga: Saga) -> None:
        await self._inventory.Commit(inventory_pb2.CommitRequest(order_id=saga.order_id))

    async def _authorize(self, saga: Saga) -> payments_pb2.Payment:
        request = payments_pb2.AuthorizeRequest(
            idempotency_key=saga.payment_key,
            order_id=saga.order_id,
            amount_cents=saga.total_cents,
            currency=saga.currency,
            payment_method_id=saga.payment_method_id,
        )
        payment: payments_pb2.Payment = await self._payments.Authorize(request)
        return payment

    async def authorize_payment(self, saga: Saga) -> str:
        payment = await self._authorize(saga)
        if payment.status == payments_pb2.PAYMENT_STATUS_DECLINED:
            raise StepFailed(f"payment declined: {payment.decline_reason}")
        return payment.payment_id

    async def payment_of(self, saga: Saga) -> str:
        payment = await self._authorize(saga)
        return "" if payment.status == payments_pb2.PAYMENT_STATUS_DECLINED else payment.payment_id

    async def capture_payment(self, saga: Saga) -> None:
        await self._payments.Capture(payments_pb2.CaptureRequest(payment_id=saga.payment_id))

    async def cancel_payment(self, payment_id: str) -> None:
        reason = "order saga compensation"
        await self._payments.CancelPayment(payments_pb2.CancelPaymentRequest(payment_id=payment_id, reason=reason))

    async def confirm_order(self, saga: Saga) -> None:
        await self._orders.ConfirmOrder(
            orders_pb2.ConfirmOrderRequest(order_id=saga.order_id, payment_id=saga.payment_id)
        )

    async def reject_order(self, saga: Saga) -> None:
        await self._orders.RejectOrder(orders_pb2.RejectOrderRequest(order_id=saga.order_id, reason=saga.reason))
