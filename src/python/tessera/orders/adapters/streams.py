"""Orders as event streams, whatever store holds them: Postgres in production, memory in the use-case tests."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from events.v1 import envelope_pb2
from tessera.kit.event_store import EventSourcedRepository
from tessera.orders import domain
from tessera.orders.adapters.messages import event_from_envelope


class OrderStreams:
    """Orders as event streams: the kit's event-sourced repository, on Postgres or (in tests) in memory."""

    def __init__(self, streams: EventSourcedRepository[domain.Order, domain.Event]) -> None:
        self._streams = streams

    async def get(self, order_id: str) -> domain.Order | None:
        return await self._streams.load(order_id)

    async def history(self, order_id: str) -> Sequence[envelope_pb2.EventEnvelope]:
        return await self._streams.history(order_id)

    async def append(self, order: domain.Order, events: Sequence[domain.Event]) -> domain.Order:
        return await self._streams.append(order, order.order_id, order.version, events)


def fold_orders() -> dict[str, Any]:
    """How an order stream folds into an order: the same for every store."""
    return {"start": domain.Order, "evolve": domain.Order.apply, "decode": event_from_envelope}
