"""The saga driver's logic on in-memory fakes of its repository and participants."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace

import pytest

from tessera.saga.domain import Line, Saga, State, StepFailed, TransientError
from tessera.saga.service_layer import SagaDriver
from tessera.saga.tests.fakes import FakeParticipants, FakeRepository

SAGA = Saga("o-1", State.STARTED, (Line("p-1", 2),), 500, "EUR", "pm-1")


async def run(
    participants: FakeParticipants,
    *,
    step_timeout: float = 0.3,
    pause: Callable[[float], Awaitable[None]] | None = None,
) -> tuple[State | None, FakeRepository]:
    repository = FakeRepository()
    await repository.start(SAGA, "e-1")
    driver = SagaDriver(
        repository, participants, owner="w-1", step_timeout_seconds=step_timeout, pause=pause or asyncio.sleep
    )
    return await driver.drive("o-1"), repository


def refusing_until_paused(participants: FakeParticipants, step: str, times: int) -> tuple[list[float], Callable]:
    """A pause that records its length and, at the `times`-th, makes `step` accepted again."""
    pauses: list[float] = []

    async def pause(seconds: float) -> None:
        pauses.append(seconds)
        if len(pauses) == times:
            participants.fail.pop(step)

    return pauses, pause


async def test_happy_path_runs_the_steps_in_order():
    participants = FakeParticipants()
    state, _ = await run(participants)
    assert state is State.COMPLETED
    assert participants.calls == [
        "reserve_stock",
        "authorize_payment",
        "confirm_order",
        "capture_payment",
        "commit_stock",
    ]
    assert participants.payments == {"pay-1": "captured"}


async def test_out_of_stock_rejects_without_touching_payment():
    participants = FakeParticipants(fail={"reserve_stock": StepFailed("not enough stock")})
    state, repository = await run(participants)
    assert state is State.REJECTED
    assert "authorize_payment" not in participants.calls and "cancel_payment" not in participants.calls
    assert participants.order_status == "rejected"
    assert repository.sagas["o-1"].reason == "not enough stock"


async def test_declined_payment_releases_stock_and_rejects():
    participants = FakeParticipants(fail={"authorize_payment": StepFailed("payment declined")})
    state, _ = await run(participants)
    assert state is State.REJECTED
    assert participants.released == {"o-1"}
    assert "cancel_payment" not in participants.calls  # a declined payment has nothing to undo


async def test_a_cancelled_order_is_compensated_with_a_void():
    participants = FakeParticipants(order_status="cancelled")
    state, _ = await run(participants)
    assert state is State.REJECTED
    assert participants.payments == {"pay-1": "voided"}
    assert participants.released == {"o-1"}


async def test_an_authorization_that_timed_out_is_found_and_voided():
    participants = FakeParticipants(fail={"authorize_payment": TransientError("UNAVAILABLE")})
    state, repository = await run(participants)
    assert state is State.REJECTED
    assert repository.sagas["o-1"].reason == "authorize_payment timed out"
    assert participants.calls[-2:] == ["payment_of", "cancel_payment"]
    assert participants.payments == {"pay-1": "voided"}


async def test_a_confirm_whose_answer_was_lost_goes_forward_not_back():
    participants = FakeParticipants()

    async def confirm_but_lose_the_answer(saga):
        participants.calls.append("confirm_order")
        participants.order_status = "confirmed"
        raise TransientError("DEADLINE_EXCEEDED")

    participants.confirm_order = confirm_but_lose_the_answer
    state, _ = await run(participants)
    assert state is State.COMPLETED
    assert "release_stock" not in participants.calls and "cancel_payment" not in participants.calls
    assert participants.payments == {"pay-1": "captured"}


async def test_a_worker_that_dies_is_replaced_once_its_lease_expires():
    participants = FakeParticipants()
    repository = FakeRepository()
    await repository.start(SAGA, "e-1")
    # Worker 1 reserved stock, saved, then died holding a short lease.
    repository.leases["o-1"] = ("w-1", time.monotonic() + 1.0)
    repository.sagas["o-1"] = replace(SAGA, state=State.STOCK_RESERVED)
    participants.reserved.add("o-1")
    second = SagaDriver(repository, participants, owner="w-2", step_timeout_seconds=0.3)
    assert await second.drive("o-1") is None  # still leased to the dead worker
    await asyncio.sleep(1.05)
    assert await second.drive("o-1") is State.COMPLETED
    assert "reserve_stock" not in participants.calls  # resumed where it stood, not from the start


async def test_a_saga_taken_over_stops_being_driven():
    participants = FakeParticipants()
    repository = FakeRepository()
    await repository.start(SAGA, "e-1")
    driver = SagaDriver(repository, participants, owner="w-1", step_timeout_seconds=0.3)

    async def stolen_during_reserve(saga):
        participants.calls.append("reserve_stock")
        repository.leases["o-1"] = ("w-2", time.monotonic() + 60)

    participants.reserve_stock = stolen_during_reserve
    assert await driver.drive("o-1") is None
    assert participants.calls == ["reserve_stock"]


@pytest.mark.parametrize("finished", [State.COMPLETED, State.REJECTED])
async def test_finished_sagas_are_not_claimed(finished):
    repository = FakeRepository()
    await repository.start(replace(SAGA, state=finished), "e-1")
    driver = SagaDriver(repository, FakeParticipants(), owner="w-1")
    assert await driver.drive("o-1") is None


async def test_a_capture_refused_after_the_pivot_stalls_and_is_retried_after_a_pause_never_compensated():
    participants = FakeParticipants(fail={"capture_payment": StepFailed("authorization expired")})
    pauses, pause = refusing_until_paused(participants, "capture_payment", times=3)
    state, _ = await run(participants, pause=pause)
    assert state is State.COMPLETED
    assert pauses == [0.3, 0.3, 0.3]  # a step's timeout between tries, not at once
    assert participants.calls.count("capture_payment") == 4
    assert not {"reject_order", "release_stock", "cancel_payment"} & set(participants.calls)
    assert participants.order_status == "confirmed" and participants.payments == {"pay-1": "captured"}


async def test_an_undo_refused_stalls_the_compensation_and_is_retried_after_a_pause():
    participants = FakeParticipants(
        fail={"authorize_payment": StepFailed("payment declined"), "release_stock": StepFailed("not reserved yet")}
    )
    pauses, pause = refusing_until_paused(participants, "release_stock", times=2)
    state, repository = await run(participants, pause=pause)
    assert state is State.REJECTED
    assert pauses == [0.3, 0.3]
    assert participants.calls.count("release_stock") == 3 and participants.released == {"o-1"}
    assert repository.sagas["o-1"].reason == "payment declined"  # the refusal of the undo is not the reason
