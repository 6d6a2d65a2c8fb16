"""Mapping between the payments domain and its payments.v1 protobuf messages."""

from __future__ import annotations

from payments.v1 import events_pb2, payments_pb2

from tessera.payments import domain

_STATUS = {
    domain.Status.AUTHORIZED: payments_pb2.PAYMENT_STATUS_AUTHORIZED,
    domain.Status.DECLINED: payments_pb2.PAYMENT_STATUS_DECLINED,
    domain.Status.CAPTURED: payments_pb2.PAYMENT_STATUS_CAPTURED,
    domain.Status.VOIDED: payments_pb2.PAYMENT_STATUS_VOIDED,
    domain.Status.REFUNDED: payments_pb2.PAYMENT_STATUS_REFUNDED,
}


def payment_to_proto(payment: domain.Payment) -> payments_pb2.Payment:
    return payments_pb2.Payment(
        payment_id=str(payment.payment_id),
        order_id=payment.order_id,
        amount_cents=payment.amount_cents,
        currency=payment.currency,
        status=_STATUS[payment.status],
        decline_reason=payment.decline_reason,
    )


def event_to_proto(event: domain.PaymentChanged) -> events_pb2.PaymentStatusChanged:
    return events_pb2.PaymentStatusChanged(payment=payment_to_proto(event.payment))
