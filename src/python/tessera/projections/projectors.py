"""How each event changes the views. Shared by the live faust projection and the rebuild command.

Every write is guarded by the stream version, so applying an event twice, or an older one after a newer one,
changes nothing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC

from inventory.v1 import events_pb2 as inventory_events
from orders.v1 import events_pb2 as order_events

from events.v1 import envelope_pb2
from tessera.inventory.config import STOCK_TOPIC
from tessera.kit.db import Connection
from tessera.kit.events import unpack
from tessera.orders.config import ORDER_TOPIC

_STATUS_OF = {
    order_events.OrderConfirmed.DESCRIPTOR.full_name: "confirmed",
    order_events.OrderRejected.DESCRIPTOR.full_name: "rejected",
    order_events.OrderCancelled.DESCRIPTOR.full_name: "cancelled",
}


async def project_order_event(conn: Connection, envelope: envelope_pb2.EventEnvelope) -> bool:
    """Applies one orders.v1 event; False if it changed nothing (a repeat, or not an order event)."""
    at = envelope.occurred_at.ToDatetime(tzinfo=UTC)
    if envelope.event_type == order_events.OrderPlaced.DESCRIPTOR.full_name:
        placed = unpack(envelope, order_events.OrderPlaced)
        status = await conn.execute(
            """INSERT INTO order_summaries (order_id, customer_id, status, total_cents, currency, item_count,
                                            version, placed_at, updated_at)
               VALUES ($1, $2, 'pending', $3, $4, $5, $6, $7, $7)
               ON CONFLICT (order_id) DO NOTHING""",
            placed.order_id,
            placed.customer_id,
            placed.total_cents,
            placed.currency,
            sum(line.quantity for line in placed.lines),
            envelope.aggregate_version,
            at,
        )
        return bool(status == "INSERT 0 1")
    new_status = _STATUS_OF.get(envelope.event_type)
    if new_status is None:
        return False
    reason = ""
    if new_status == "rejected":
        reason = unpack(envelope, order_events.OrderRejected).reason
    elif new_status == "cancelled":
        reason = unpack(envelope, order_events.OrderCancelled).reason
    status = await conn.execute(
        """UPDATE order_summaries SET status = $2, reject_reason = $3, version = $4, updated_at = $5
           WHERE order_id = $1 AND version < $4""",
        envelope.aggregate_id,
        new_status,
        reason,
        envelope.aggregate_version,
        at,
    )
    return bool(status == "UPDATE 1")


async def project_stock_event(conn: Connection, envelope: envelope_pb2.EventEnvelope) -> bool:
    if envelope.event_type != inventory_events.StockLevelChanged.DESCRIPTOR.full_name:
        return False
    level = unpack(envelope, inventory_events.StockLevelChanged).level
    status = await conn.execute(
        """INSERT INTO stock_views (product_id, on_hand, reserved, available, version, updated_at)
           VALUES ($1, $2, $3, $4, $5, $6)
           ON CONFLICT (product_id) DO UPDATE SET
               on_hand = EXCLUDED.on_hand, reserved = EXCLUDED.reserved, available = EXCLUDED.available,
               version = EXCLUDED.version, updated_at = EXCLUDED.updated_at
           WHERE stock_views.version < EXCLUDED.version""",
        level.product_id,
        level.on_hand,
        level.reserved,
        level.available,
        level.version,
        envelope.occurred_at.ToDatetime(tzinfo=UTC),
    )
    return bool(status == "INSERT 0 1")


Projector = Callable[[Connection, envelope_pb2.EventEnvelope], Awaitable[bool]]
PROJECTORS: dict[str, Projector] = {ORDER_TOPIC: project_order_event, STOCK_TOPIC: project_stock_event}
