"""Drives sagas: one step at a time, saving the state after each, retrying transient failures within bounds.

Every participant call is idempotent per order (inventory by order id, payments by the order's key, orders by
state), so a step repeated after a crash has its effect once. A worker drives a saga only while it holds its
lease; the lease is renewed with every saved state, and a saga whose worker died is resumed by any worker once
the lease has expired.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import NamedTuple, Protocol, TypeVar

from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_delay, wait_exponential_jitter

from tessera.kit.logs import get_logger
from tessera.saga import metrics
from tessera.saga.domain import FORWARD, Failure, Saga, State, Step, StepFailed, TransientError, Transition

log = get_logger(__name__)
T = TypeVar("T")


class Orphan(NamedTuple):
    """An unfinished saga that no worker holds (its worker died), and the trace it belongs to."""

    order_id: str
    traceparent: str


class SagaRepository(Protocol):
    async def start(self, saga: Saga, event_id: str, traceparent: str = "") -> bool:
        """Records a new saga once per event id and order id, with the trace it belongs to; False if either was
        seen before."""

    async def claim(self, order_id: str, owner: str, lease_seconds: float) -> Saga | None:
        """The saga, if unfinished and free (or already ours); it is then leased to `owner`."""

    async def save(self, saga: Saga, owner: str, lease_seconds: float) -> bool:
        """Stores the new state and renews the lease; False if the lease was lost to another worker."""

    async def unfinished_and_free(self, limit: int) -> list[Orphan]: ...


class Participants(Protocol):
    async def reserve_stock(self, saga: Saga) -> None: ...

    async def release_stock(self, saga: Saga) -> None: ...

    async def commit_stock(self, saga: Saga) -> None: ...

    async def authorize_payment(self, saga: Saga) -> str:
        """The payment id; StepFailed if declined."""

    async def payment_of(self, saga: Saga) -> str:
        """The payment made with the saga's key, authorizing it if it never arrived; "" if it was declined."""

    async def capture_payment(self, saga: Saga) -> None: ...

    async def cancel_payment(self, payment_id: str) -> None: ...

    async def confirm_order(self, saga: Saga) -> None:
        """StepFailed if the order is no longer pending (e.g. cancelled by the customer)."""

    async def reject_order(self, saga: Saga) -> None: ...


class SagaDriver:
    def __init__(
        self,
        repository: SagaRepository,
        participants: Participants,
        *,
        owner: str,
        lease_seconds: float = 15.0,
        step_timeout_seconds: float = 10.0,
        pause: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._repo = repository
        self._p = participants
        self._owner = owner
        self._lease = lease_seconds
        self._step_timeout = step_timeout_seconds
        self._pause = pause

    async def drive(self, order_id: str) -> State | None:
        """Runs the saga to its end; None if another worker holds it (or takes it over meanwhile)."""
        saga = await self._repo.claim(order_id, self._owner, self._lease)
        if saga is None:
            return None
        while not saga.finished:
            saga = await self._advance(saga)
            if not await self._repo.save(saga, self._owner, self._lease):
                log.warning("saga lease lost; another worker continues it", order_id=order_id)
                return None
        metrics.SAGA_OUTCOMES.labels(saga.state.value).inc()
        log.info("saga finished", order_id=order_id, state=saga.state.value, reason=saga.reason)
        return saga.state

    async def _advance(self, saga: Saga) -> Saga:
        if saga.state is State.COMPENSATING:
            return await self._compensate(saga)
        transition = FORWARD.get(saga.state)
        if transition is None:
            return saga
        if not transition.compensates:
            return await self._forward(saga, transition)
        step = transition.step
        try:
            payment_id = await self._step(step, lambda: self._take(step, saga))
        except StepFailed as refusal:
            return _compensating(saga, step, Failure.REFUSED, str(refusal))
        except TimeoutError:
            return _compensating(saga, step, Failure.TIMED_OUT, f"{step} timed out")
        return replace(saga, state=transition.succeeded, payment_id=payment_id or saga.payment_id)

    async def _take(self, step: Step, saga: Saga) -> str | None:
        """Takes a forward step; the payment's id for the authorization."""
        match step:
            case Step.RESERVE_STOCK:
                await self._p.reserve_stock(saga)
            case Step.AUTHORIZE_PAYMENT:
                return await self._p.authorize_payment(saga)
            case Step.CONFIRM_ORDER:
                await self._p.confirm_order(saga)
            case Step.CAPTURE_PAYMENT:
                await self._p.capture_payment(saga)
            case Step.COMMIT_STOCK:
                await self._p.commit_stock(saga)
        return None

    async def _step(self, name: str, call: Callable[[], Awaitable[T]]) -> T:
        """Retries transient failures until the step timeout, then gives up with TimeoutError."""
        started = time.perf_counter()
        try:
            async for attempt in AsyncRetrying(
                retry=retry_if_exception_type(TransientError),
                stop=stop_after_delay(self._step_timeout),
                wait=wait_exponential_jitter(initial=0.05, max=1.0),
                reraise=True,
            ):
                with attempt:
                    return await call()
        except TransientError as exc:
            raise TimeoutError(f"{name}: {exc}") from exc
        finally:
            metrics.SAGA_STEP_SECONDS.labels(name).observe(time.perf_counter() - started)
        raise AssertionError("unreachable")

    async def _forward(self, saga: Saga, transition: Transition) -> Saga:
        """A step after the pivot: it must eventually succeed. On a long outage, keep the state (the caller
        saves it, which renews the lease) and try again."""
        step = transition.step
        try:
            await self._step(step, lambda: self._take(step, saga))
        except TimeoutError:
            log.warning("saga step still failing; retrying", order_id=saga.order_id, step=step)
            return saga
        except StepFailed as refusal:
            return await self._stalled(saga, step, refusal)
        return replace(saga, state=transition.succeeded)

    async def _compensate(self, saga: Saga) -> Saga:
        """Rejects the order first, then undoes the stock and payment; every undo is idempotent.

        The order goes first because it is the one step that can refuse: if it was confirmed after all (a confirm
        whose answer was lost), rejecting fails and the saga goes forward instead of undoing a confirmed order.
        """
        try:
            await self._step("reject_order", lambda: self._p.reject_order(saga))
        except StepFailed:
            log.info("order was confirmed after all; going forward", order_id=saga.order_id)
            return replace(saga, state=State.ORDER_CONFIRMED, reason="")
        except TimeoutError:
            log.warning("saga compensation still failing; retrying", order_id=saga.order_id)
            return saga
        undo = "release_stock"
        try:
            await self._step(undo, lambda: self._p.release_stock(saga))
            payment_id = saga.payment_id
            if saga.payment_may_be_unseen:  # find it (by the same key) to void it
                undo = "find_payment"
                payment_id = await self._step(undo, lambda: self._p.payment_of(saga))
            if payment_id:
                undo = "cancel_payment"
                await self._step(undo, lambda: self._p.cancel_payment(payment_id))
        except TimeoutError:
            log.warning("saga compensation still failing; retrying", order_id=saga.order_id)
            return saga
        except StepFailed as refusal:
            return await self._stalled(saga, undo, refusal)
        return replace(saga, state=State.REJECTED)

    async def _stalled(self, saga: Saga, step: str, refusal: StepFailed) -> Saga:
        """A step refused where the saga can neither go forward nor back: after the pivot (the order is confirmed to
        its customer) or an undo. Retrying at once would loop without end; it keeps its state, is counted and
        logged for an operator (alert TesseraSagaStalled), and pauses before the caller saves it (renewing the
        lease) and tries again: a refusal that was a participant's passing state clears by itself."""
        metrics.SAGA_STALLED.labels(step).inc()
        log.error(
            "saga step refused where it can neither go forward nor back; retrying after a pause",
            order_id=saga.order_id,
            step=step,
            reason=str(refusal),
        )
        await self._pause(min(self._step_timeout, self._lease / 2))
        return saga


def _compensating(saga: Saga, step: Step, failure: Failure, reason: str) -> Saga:
    return replace(saga, state=State.COMPENSATING, reason=reason, failed_step=step, failure=failure)
