"""payments.v1.PaymentsService over gRPC."""

from __future__ import annotations

from typing import Any

import grpc
from payments.v1 import payments_pb2, payments_pb2_grpc

from tessera.payments.adapters.messages import payment_to_proto
from tessera.payments.service_layer import PaymentsService

Context = grpc.aio.ServicerContext[Any, Any]


class PaymentsGrpcApi(payments_pb2_grpc.PaymentsServiceServicer):
    def __init__(self, service: PaymentsService) -> None:
        self._service = service

    async def Authorize(self, request: payments_pb2.AuthorizeRequest, context: Context) -> payments_pb2.Payment:
        result = await self._service.authorize(
            idempotency_key=request.idempotency_key,
            order_id=request.order_id,
            amount_cents=request.amount_cents,
            currency=request.currency,
            payment_method_id=request.payment_method_id,
        )
        return payment_to_proto(result)

    async def RegisterPaymentMethod(
        self, request: payments_pb2.RegisterPaymentMethodRequest, context: Context
    ) -> payments_pb2.PaymentMethod:
        method = await self._service.register_method(
            idempotency_key=request.idempotency_key, customer_id=request.customer_id, card_token=request.card_token
        )
        reply = payments_pb2.PaymentMethod(
            payment_method_id=str(method.payment_method_id), customer_id=method.customer_id
        )
        reply.expires_at.FromDatetime(method.expires_at)
        return reply

    async def Capture(self, request: payments_pb2.CaptureRequest, context: Context) -> payments_pb2.Payment:
        return payment_to_proto(await self._service.capture(request.payment_id))

    async def CancelPayment(self, request: payments_pb2.CancelPaymentRequest, context: Context) -> payments_pb2.Payment:
        return payment_to_proto(await self._service.cancel(request.payment_id))

    async def GetPayment(self, request: payments_pb2.GetPaymentRequest, context: Context) -> payments_pb2.Payment:
        return payment_to_proto(await self._service.get(request.payment_id))
