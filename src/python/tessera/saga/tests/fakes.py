"""In-memory fakes of the saga driver's ports: its repository and the participants it calls."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from tessera.saga.domain import Saga, StepFailed
from tessera.saga.service_layer import Orphan


class FakeRepository:
    def __init__(self) -> None:
        self.sagas: dict[str, Saga] = {}
        self.leases: dict[str, tuple[str, float]] = {}

    async def start(self, saga, event_id, traceparent=""):
        if saga.order_id in self.sagas:
            return False
        self.sagas[saga.order_id] = saga
        return True

    async def claim(self, order_id, owner, lease_seconds):
        saga = self.sagas.get(order_id)
        holder = self.leases.get(order_id)
        if saga is None or saga.finished:
            return None
        if holder and holder[0] != owner and holder[1] > time.monotonic():
            return None
        self.leases[order_id] = (owner, time.monotonic() + lease_seconds)
        return saga

    async def save(self, saga, owner, lease_seconds):
        if self.leases.get(saga.order_id, ("", 0))[0] != owner:
            return False
        self.sagas[saga.order_id] = saga
        self.leases[saga.order_id] = (owner, time.monotonic() + lease_seconds)
        return True

    async def unfinished_and_free(self, limit):
        return [Orphan(k, "") for k, s in self.sagas.items() if not s.finished]


@dataclass
class FakeParticipants:
    """Idempotent like the real ones; `fail` maps a call name to what it should raise."""

    fail: dict[str, Exception] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)
    reserved: set[str] = field(default_factory=set)
    released: set[str] = field(default_factory=set)
    payments: dict[str, str] = field(default_factory=dict)  # payment id -> status
    order_status: str = "pending"

    async def _call(self, name: str) -> None:
        self.calls.append(name)
        if name in self.fail:
            raise self.fail[name]

    async def reserve_stock(self, saga):
        await self._call("reserve_stock")
        self.reserved.add(saga.order_id)

    async def release_stock(self, saga):
        await self._call("release_stock")
        self.reserved.discard(saga.order_id)
        self.released.add(saga.order_id)

    async def commit_stock(self, saga):
        await self._call("commit_stock")

    async def authorize_payment(self, saga):
        await self._call("authorize_payment")
        self.payments.setdefault("pay-1", "authorized")
        return "pay-1"

    async def payment_of(self, saga):
        await self._call("payment_of")
        self.payments.setdefault("pay-1", "authorized")
        return "pay-1"

    async def capture_payment(self, saga):
        await self._call("capture_payment")
        self.payments["pay-1"] = "captured"

    async def cancel_payment(self, payment_id):
        await self._call("cancel_payment")
        self.payments[payment_id] = "voided"

    async def confirm_order(self, saga):
        await self._call("confirm_order")
        if self.order_status == "cancelled":
            raise StepFailed("order is cancelled")
        self.order_status = "confirmed"

    async def reject_order(self, saga):
        await self._call("reject_order")
        if self.order_status == "confirmed":
            raise StepFailed("order is already confirmed")
        if self.order_status == "pending":
            self.order_status = "rejected"
