"""The orders use cases: decide events from the current state, append them, retry on a concurrent write."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from typing import Protocol

from events.v1 import envelope_pb2
from tessera.kit.errors import SwitchedOff
from tessera.kit.event_store import ConcurrencyConflict
from tessera.kit.flags import FeatureFlags
from tessera.kit.uow import UnitOfWork
from tessera.orders import domain
from tessera.orders.domain import Order, PlaceOrder

CONFLICT_RETRIES = 3
# The kill switch of order placement, per customer if the flag file targets some (e.g. a staged reopening).
PLACEMENT_FLAG = "orders.placement-enabled"


class OrderRepository(Protocol):
    async def get(self, order_id: str) -> Order | None:
        """The order rebuilt by replaying its stream; None if it has none."""

    async def history(self, order_id: str) -> Sequence[envelope_pb2.EventEnvelope]:
        """The stream as stored: the audit trail."""

    async def append(self, order: Order, events: Sequence[domain.Event]) -> Order:
        """Appends after `order.version` (ConcurrencyConflict if the stream moved); returns the new state."""

    async def claim_idempotency_key(self, customer_id: str, key: str, order_id: str, fingerprint: str) -> bool:
        """Claims `key` for `order_id`; False if it was claimed before (by a concurrent request)."""

    async def find_idempotency_key(self, customer_id: str, key: str) -> tuple[str, str] | None:
        """(order id, request fingerprint) of a claimed key."""


class OrdersUnitOfWork(UnitOfWork, Protocol):
    @property
    def orders(self) -> OrderRepository: ...


class Pricer(Protocol):
    async def prices(self, product_ids: Sequence[str]) -> dict[str, tuple[int, str]]:
        """(unit price in cents, currency) per product. InvalidRequest for unknown products;
        DependencyUnavailable if the catalog cannot be asked."""


class OrdersService:
    def __init__(self, uow_factory: Callable[[], OrdersUnitOfWork], pricer: Pricer, flags: FeatureFlags) -> None:
        self._uow = uow_factory
        self._pricer = pricer
        self._flags = flags

    async def place_order(self, command: PlaceOrder) -> Order:
        """Idempotent by key: a retry gets the first order; a key reused for another order is refused."""
        domain.validate(command)
        fingerprint = command.fingerprint()
        existing = await self._order_of_key(command.customer_id, command.idempotency_key, fingerprint)
        if existing is not None:
            return existing  # a retry of an order placed before the switch still gets its order
        if not self._flags.enabled(PLACEMENT_FLAG, True, targeting_key=command.customer_id):
            raise SwitchedOff(f"order placement is switched off for now (flag {PLACEMENT_FLAG}); try again later")
        prices = await self._pricer.prices([product_id for product_id, _ in command.items])
        order_id = str(uuid.uuid4())
        events = domain.place(order_id, command, prices)
        async with self._uow() as uow:
            if await uow.orders.claim_idempotency_key(
                command.customer_id, command.idempotency_key, order_id, fingerprint
            ):
                placed = await uow.orders.append(Order(order_id), events)
                await uow.commit()
                return placed
        # A concurrent request with the same key won the race: answer with its order.
        existing = await self._order_of_key(command.customer_id, command.idempotency_key, fingerprint)
        if existing is None:
            raise domain.NotFound(f"the order of idempotency key {command.idempotency_key} is missing")
        return existing

    async def _order_of_key(self, customer_id: str, key: str, fingerprint: str) -> Order | None:
        """Keys are the customer's own: another customer's same key names another order."""
        async with self._uow() as uow:
            claimed = await uow.orders.find_idempotency_key(customer_id, key)
            if claimed is None:
                return None
            order_id, first_fingerprint = claimed
            if first_fingerprint != fingerprint:
                raise domain.InvalidRequest({"idempotency_key": "was used before for a different order"})
            return await uow.orders.get(order_id)

    async def get_order(self, order_id: str, *, customer_id: str = "") -> Order:
        """`customer_id`: when given, another customer's order is not found (callers acting for a customer)."""
        _require_issued(order_id)
        async with self._uow() as uow:
            order = await uow.orders.get(order_id)
        return _visible(order, order_id, customer_id)

    async def history(self, order_id: str, *, customer_id: str = "") -> Sequence[envelope_pb2.EventEnvelope]:
        _require_issued(order_id)
        async with self._uow() as uow:
            if customer_id:
                _visible(await uow.orders.get(order_id), order_id, customer_id)
            events = await uow.orders.history(order_id)
        if not events:
            raise domain.NotFound(f"order {order_id} not found")
        return events

    async def confirm(self, order_id: str, payment_id: str) -> Order:
        return await self._decide(order_id, lambda order: domain.confirm(order, payment_id))

    async def reject(self, order_id: str, reason: str) -> Order:
        return await self._decide(order_id, lambda order: domain.reject(order, reason))

    async def cancel(self, order_id: str, reason: str, *, customer_id: str = "") -> Order:
        return await self._decide(order_id, lambda order: domain.cancel(order, reason), customer_id)

    async def _decide(
        self, order_id: str, decide: Callable[[Order], list[domain.Event]], customer_id: str = ""
    ) -> Order:
        _require_issued(order_id)
        for attempt in range(CONFLICT_RETRIES):
            try:
                async with self._uow() as uow:
                    order = _visible(await uow.orders.get(order_id), order_id, customer_id)
                    events = decide(order)
                    if not events:
                        return order
                    decided = await uow.orders.append(order, events)
                    await uow.commit()
                    return decided
            except ConcurrencyConflict:
                if attempt == CONFLICT_RETRIES - 1:
                    raise
        raise AssertionError("unreachable")


def _visible(order: Order | None, order_id: str, customer_id: str) -> Order:
    """The order, if it exists and (when a customer is named) is that customer's: no answer tells the two apart."""
    if order is None or (customer_id and order.customer_id != customer_id):
        raise domain.NotFound(f"order {order_id} not found")
    return order


def _require_issued(order_id: str) -> None:
    """Order ids are UUIDs this service issued: any other text names no order (404, not 400: the API documents any
    string as an id), and never reaches the database (a NUL character would be refused there)."""
    try:
        uuid.UUID(order_id)
    except ValueError:
        raise domain.NotFound(f"order {order_id!r} not found") from None
