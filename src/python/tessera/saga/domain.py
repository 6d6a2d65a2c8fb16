"""The order saga's states and data. No I/O.

Forward: STARTED -reserve stock-> STOCK_RESERVED -authorize payment-> PAYMENT_AUTHORIZED -confirm order->
ORDER_CONFIRMED -capture payment-> PAYMENT_CAPTURED -commit stock-> COMPLETED.

Confirming the order is the pivot: any failure before it (out of stock, declined, a step that times out, the
order cancelled meanwhile) leads to COMPENSATING -> release stock, void/refund payment, reject order -> REJECTED.
After it, the remaining steps can only be retried until they succeed (forward recovery); they never fail for
business reasons, since the stock is held and the payment authorized. Should a participant refuse one anyway, or
refuse an undo, the saga stalls at that step: retried after a pause, counted and alerted, never looped at once.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class State(enum.StrEnum):
    STARTED = "started"
    STOCK_RESERVED = "stock_reserved"
    PAYMENT_AUTHORIZED = "payment_authorized"
    ORDER_CONFIRMED = "order_confirmed"
    PAYMENT_CAPTURED = "payment_captured"
    COMPLETED = "completed"
    COMPENSATING = "compensating"
    REJECTED = "rejected"


TERMINAL = frozenset({State.COMPLETED, State.REJECTED})


@dataclass(frozen=True)
class Line:
    product_id: str
    quantity: int


@dataclass(frozen=True)
class Saga:
    order_id: str
    state: State
    lines: tuple[Line, ...]
    total_cents: int
    currency: str
    payment_method_id: str
    payment_id: str = ""
    reason: str = ""  # why it was rejected
    failed_step: str = ""  # the step that failed, which tells compensation what may need undoing

    @property
    def payment_key(self) -> str:
        """The payment's idempotency key: one authorization per order, however often the step runs."""
        return f"order:{self.order_id}"

    @property
    def finished(self) -> bool:
        return self.state in TERMINAL


class StepFailed(Exception):
    """A business refusal (out of stock, declined, order no longer pending): compensate with this reason."""


class TransientError(Exception):
    """A participant did not answer in time or was unavailable: the step may be retried."""
