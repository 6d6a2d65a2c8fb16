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
from collections.abc import Mapping
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


class Step(enum.StrEnum):
    RESERVE_STOCK = "reserve_stock"
    AUTHORIZE_PAYMENT = "authorize_payment"
    CONFIRM_ORDER = "confirm_order"
    CAPTURE_PAYMENT = "capture_payment"
    COMMIT_STOCK = "commit_stock"


class Failure(enum.StrEnum):
    """How a step before the pivot failed. Compensation differs: an authorization that timed out may have gone
    through unseen (so it is looked up to be voided), a refused one did not."""

    REFUSED = "refused"
    TIMED_OUT = "timed_out"


@dataclass(frozen=True)
class Transition:
    step: Step  # the step taken from the state
    succeeded: State  # the state once it succeeded
    compensates: bool  # before the pivot: a failure compensates; after it, the step is retried until it succeeds


# The forward path, one row per state. Confirming the order is the pivot.
FORWARD: Mapping[State, Transition] = {
    State.STARTED: Transition(Step.RESERVE_STOCK, State.STOCK_RESERVED, compensates=True),
    State.STOCK_RESERVED: Transition(Step.AUTHORIZE_PAYMENT, State.PAYMENT_AUTHORIZED, compensates=True),
    State.PAYMENT_AUTHORIZED: Transition(Step.CONFIRM_ORDER, State.ORDER_CONFIRMED, compensates=True),
    State.ORDER_CONFIRMED: Transition(Step.CAPTURE_PAYMENT, State.PAYMENT_CAPTURED, compensates=False),
    State.PAYMENT_CAPTURED: Transition(Step.COMMIT_STOCK, State.COMPLETED, compensates=False),
}


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
    reason: str = ""  # why it was rejected, for people (the order's rejection carries it)
    failed_step: Step | None = None  # the step that failed, which tells compensation what may need undoing
    failure: Failure | None = None  # how it failed

    @property
    def payment_may_be_unseen(self) -> bool:
        """The authorization timed out: it may have gone through without the saga learning its id."""
        return not self.payment_id and (self.failed_step, self.failure) == (Step.AUTHORIZE_PAYMENT, Failure.TIMED_OUT)

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
