"""The payments domain: a payment's states and the test acquirer's decline rule. No I/O.

AUTHORIZED -> CAPTURED -> REFUNDED, or AUTHORIZED -> VOIDED; DECLINED is final. Cancelling undoes whatever was
done (void before capture, refund after) and is idempotent, which is what a saga's compensation needs.

Decline rule (documented for tests and demos): the card token "tok_decline", or an amount above
DECLINE_ABOVE_CENTS, is declined.

Card tokens are exchanged for payment methods when an order is placed: a method holds its token until one payment
uses it (then the token is dropped) or it expires; nothing outside payments ever holds the token.
"""

from __future__ import annotations

import enum
import re
import uuid
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from tessera.kit.errors import IllegalTransition, InvalidRequest, NotFound

DECLINE_TOKEN = "tok_decline"
DECLINE_ABOVE_CENTS = 1_000_000
CURRENCY = re.compile(r"^[A-Z]{3}$")


class Status(enum.StrEnum):
    AUTHORIZED = "authorized"
    DECLINED = "declined"
    CAPTURED = "captured"
    VOIDED = "voided"
    REFUNDED = "refunded"


@dataclass(frozen=True)
class Payment:
    payment_id: uuid.UUID
    idempotency_key: str
    order_id: str
    amount_cents: int
    currency: str
    status: Status
    decline_reason: str = ""
    version: int = 1

    def same_request(self, other: Payment) -> bool:
        return (self.order_id, self.amount_cents, self.currency) == (other.order_id, other.amount_cents, other.currency)


@dataclass(frozen=True)
class PaymentChanged:
    """Domain event: a payment reached a new status."""

    payment: Payment
    aggregate_type = "payment"

    @property
    def aggregate_id(self) -> str:
        return str(self.payment.payment_id)

    @property
    def aggregate_version(self) -> int:
        return self.payment.version

    @property
    def correlation_id(self) -> str:
        return self.payment.order_id


@dataclass(frozen=True)
class PaymentMethod:
    payment_method_id: uuid.UUID
    customer_id: str
    idempotency_key: str
    card_token: str | None = field(repr=False)  # None once a payment used it, or it expired
    expires_at: datetime


def register_method(
    *, idempotency_key: str, customer_id: str, card_token: str, now: datetime, lifetime: timedelta
) -> PaymentMethod:
    errors: dict[str, str] = {}
    if not idempotency_key or len(idempotency_key) > 128:
        errors["idempotency_key"] = "is required (at most 128 characters)"
    if not customer_id or len(customer_id) > 64:
        errors["customer_id"] = "is required (at most 64 characters)"
    if not card_token or len(card_token) > 128:
        errors["card_token"] = "is required (at most 128 characters)"
    if errors:
        raise InvalidRequest(errors)
    return PaymentMethod(uuid.uuid4(), customer_id, idempotency_key, card_token, now + lifetime)


def same_registration(existing: PaymentMethod, again: PaymentMethod) -> bool:
    """A retried registration: the same token, or one already used or expired (nothing left to compare)."""
    return existing.card_token is None or existing.card_token == again.card_token


def authorize(
    *,
    idempotency_key: str,
    order_id: str,
    amount_cents: int,
    currency: str,
    payment_method_id: str,
    card_token: str | None,
) -> Payment:
    """`card_token`: the method's, or None if the method is unknown, expired or was used: then it is declined."""
    errors: dict[str, str] = {}
    if not idempotency_key or len(idempotency_key) > 128:
        errors["idempotency_key"] = "is required (at most 128 characters)"
    if not order_id:
        errors["order_id"] = "is required"
    if amount_cents <= 0:
        errors["amount_cents"] = "must be positive"
    if not CURRENCY.match(currency):
        errors["currency"] = "must be a 3-letter ISO 4217 code in capitals"
    if not payment_method_id:
        errors["payment_method_id"] = "is required"
    if errors:
        raise InvalidRequest(errors)
    status, reason = Status.AUTHORIZED, ""
    if card_token is None:
        status, reason = Status.DECLINED, "the payment method is unknown, expired or already used"
    elif card_token == DECLINE_TOKEN:
        status, reason = Status.DECLINED, "card declined by issuer"
    elif amount_cents > DECLINE_ABOVE_CENTS:
        status, reason = Status.DECLINED, f"amount above the limit of {DECLINE_ABOVE_CENTS} cents"
    return Payment(uuid.uuid4(), idempotency_key, order_id, amount_cents, currency, status, reason)


def capture(payment: Payment) -> Payment | None:
    """The captured payment, or None if it already was (idempotent)."""
    if payment.status is Status.CAPTURED:
        return None
    if payment.status is not Status.AUTHORIZED:
        raise IllegalTransition(f"payment {payment.payment_id} is {payment.status}; only authorized ones capture")
    return replace(payment, status=Status.CAPTURED, version=payment.version + 1)


def cancel(payment: Payment) -> Payment | None:
    """Voids or refunds; None if there is nothing (left) to undo."""
    match payment.status:
        case Status.AUTHORIZED:
            return replace(payment, status=Status.VOIDED, version=payment.version + 1)
        case Status.CAPTURED:
            return replace(payment, status=Status.REFUNDED, version=payment.version + 1)
        case _:
            return None


def parse_method_id(raw: str) -> uuid.UUID | None:
    """None for text that names no method (no method has it, so a payment with it is declined)."""
    try:
        return uuid.UUID(raw)
    except ValueError:
        return None


__all__ = ["IllegalTransition", "InvalidRequest", "NotFound"]  # the domain's errors, from the kit
