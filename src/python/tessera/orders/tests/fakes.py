"""In-memory fakes of the orders' ports; tests/test_contract_integration.py holds them to the Postgres adapter."""

from __future__ import annotations

from collections.abc import Sequence

from events.v1 import envelope_pb2
from tessera.kit.event_store import EventSourcedRepository
from tessera.orders import domain
from tessera.orders.adapters.messages import ORDER_AGGREGATE, event_from_envelope, event_to_proto
from tessera.testing.fakes import InMemoryEventStore


class FakeOrderRepository:
    """The kit's event-sourced repository over an in-memory store, and the idempotency keys in a dict."""

    def __init__(self) -> None:
        self.store = InMemoryEventStore()  # its `appended` is what Postgres would have put in the outbox
        self.keys: dict[tuple[str, str], tuple[str, str]] = {}
        self._streams: EventSourcedRepository[domain.Order, domain.Event] = EventSourcedRepository(
            self.store,
            ORDER_AGGREGATE,
            producer="orders",
            to_message=event_to_proto,
            publish=lambda envelope: None,  # the store keeps what was appended
            start=domain.Order,
            evolve=domain.Order.apply,
            decode=event_from_envelope,
        )

    async def get(self, order_id: str) -> domain.Order | None:
        return await self._streams.load(order_id)

    async def history(self, order_id: str) -> Sequence[envelope_pb2.EventEnvelope]:
        return await self._streams.history(order_id)

    async def append(self, order: domain.Order, events: Sequence[domain.Event]) -> domain.Order:
        return await self._streams.append(order, order.order_id, order.version, events)

    async def claim_idempotency_key(self, customer_id: str, key: str, order_id: str, fingerprint: str) -> bool:
        if (customer_id, key) in self.keys:
            return False
        self.keys[(customer_id, key)] = (order_id, fingerprint)
        return True

    async def find_idempotency_key(self, customer_id: str, key: str) -> tuple[str, str] | None:
        return self.keys.get((customer_id, key))
