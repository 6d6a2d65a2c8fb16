"""In-memory fakes of the orders' ports; tests/test_contract_integration.py holds them to the Postgres adapter."""

from __future__ import annotations

from tessera.kit.event_store import EventSourcedRepository
from tessera.orders import domain
from tessera.orders.adapters.messages import ORDER_AGGREGATE, event_to_proto
from tessera.orders.adapters.streams import OrderStreams, fold_orders
from tessera.testing.fakes import InMemoryEventStore


class FakeOrderRepository(OrderStreams):
    """The kit's event-sourced repository over an in-memory store, and the idempotency keys in a dict."""

    def __init__(self) -> None:
        self.store = InMemoryEventStore()  # its `appended` is what Postgres would have put in the outbox
        self.keys: dict[tuple[str, str], tuple[str, str]] = {}
        streams = EventSourcedRepository[domain.Order, domain.Event](
            self.store, ORDER_AGGREGATE, service="orders", to_message=event_to_proto, record_envelope=lambda e: None,
            **fold_orders(),
        )  # fmt: skip
        super().__init__(streams)

    async def claim_idempotency_key(self, customer_id: str, key: str, order_id: str, fingerprint: str) -> bool:
        if (customer_id, key) in self.keys:
            return False
        self.keys[(customer_id, key)] = (order_id, fingerprint)
        return True

    async def find_idempotency_key(self, customer_id: str, key: str) -> tuple[str, str] | None:
        return self.keys.get((customer_id, key))
