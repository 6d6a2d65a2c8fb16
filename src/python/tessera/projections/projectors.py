"""How each event changes the read models, as document writes. Shared by the live projection and the rebuild.

An order summary and a stock level are each one document, keyed by the order or product id, carrying `version`:
the version of its stream it reflects. Each write is one atomic single-document update that both applies an event
and records it (the version), and only to a document older than the event: a repeated or older event changes
nothing, and no multi-document transaction is needed (FerretDB v1 has none). A batch of events becomes one bulk
write per collection, applied in the events' order.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC

from inventory.v1 import events_pb2 as inventory_events
from orders.v1 import events_pb2 as order_events
from pymongo import ASCENDING, DESCENDING, IndexModel, UpdateOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, DuplicateKeyError

from events.v1 import envelope_pb2
from tessera.kit.documents import Document
from tessera.kit.events import unpack

ORDER_SUMMARIES = "order_summaries"
STOCK_VIEWS = "stock_views"
INDEXES = {
    # A customer's orders, newest first, paged by (placed_at, order id).
    ORDER_SUMMARIES: [IndexModel([("customer_id", ASCENDING), ("placed_at", DESCENDING), ("_id", DESCENDING)])],
}
DUPLICATE_KEY = 11000
# Writes sent in one command. FerretDB v1 keeps each write's PostgreSQL query open until its whole command is done
# (internal/handler/msg_update.go defers every iterator's close to the end of the command), one pooled connection
# each: a command of more writes than its pool has connections (50 unless its URL sets pool_max_conns) waits for
# itself for ever. Small commands keep several writers (two agents, a rebuild) well inside it.
OPS_PER_COMMAND = 20

_STATUS_OF = {
    order_events.OrderConfirmed.DESCRIPTOR.full_name: "confirmed",
    order_events.OrderRejected.DESCRIPTOR.full_name: "rejected",
    order_events.OrderCancelled.DESCRIPTOR.full_name: "cancelled",
}


@dataclass(frozen=True)
class Write:
    """One atomic change of one document by one event."""

    collection: str
    key: str
    version: int
    filter: Document
    change: Document
    upsert: bool = False

    def operation(self) -> UpdateOne:
        return UpdateOne(self.filter, self.change, upsert=self.upsert)


def order_writes(envelope: envelope_pb2.EventEnvelope) -> list[Write]:
    """The writes of one orders.v1 event (none for an event the views do not show)."""
    at = envelope.occurred_at.ToDatetime(tzinfo=UTC)
    version = envelope.aggregate_version
    if envelope.event_type == order_events.OrderPlaced.DESCRIPTOR.full_name:
        placed = unpack(envelope, order_events.OrderPlaced)
        summary = {
            "customer_id": placed.customer_id,
            "status": "pending",
            "total_cents": placed.total_cents,
            "currency": placed.currency,
            "item_count": sum(line.quantity for line in placed.lines),
            "reject_reason": "",
            "version": version,
            "placed_at": at,
            "updated_at": at,
        }
        # Placed is the first event of its stream: inserted once, never over a later state.
        return [
            Write(ORDER_SUMMARIES, placed.order_id, version, {"_id": placed.order_id}, {"$setOnInsert": summary}, True)
        ]
    status = _STATUS_OF.get(envelope.event_type)
    if status is None:
        return []
    reason = ""
    if status == "rejected":
        reason = unpack(envelope, order_events.OrderRejected).reason
    elif status == "cancelled":
        reason = unpack(envelope, order_events.OrderCancelled).reason
    change = {"status": status, "reject_reason": reason, "version": version, "updated_at": at}
    older = {"_id": envelope.aggregate_id, "version": {"$lt": version}}
    return [Write(ORDER_SUMMARIES, envelope.aggregate_id, version, older, {"$set": change})]


def stock_writes(envelope: envelope_pb2.EventEnvelope) -> list[Write]:
    if envelope.event_type != inventory_events.StockLevelChanged.DESCRIPTOR.full_name:
        return []
    level = unpack(envelope, inventory_events.StockLevelChanged).level
    state = {
        "on_hand": level.on_hand,
        "reserved": level.reserved,
        "available": level.available,
        "version": level.version,
        "updated_at": envelope.occurred_at.ToDatetime(tzinfo=UTC),
    }
    # One upsert of the whole state, on a document older than the event or absent. On a newer document its filter
    # matches nothing and the insert collides on the id: the event is stale and changes nothing (see _command).
    # Stale events are redeliveries, rare, so the common case is one write, not an insert-if-absent beside it.
    key = level.product_id
    older = {"_id": key, "version": {"$lt": level.version}}
    return [Write(STOCK_VIEWS, key, level.version, older, {"$set": state}, upsert=True)]


Projector = Callable[[envelope_pb2.EventEnvelope], list[Write]]
# By the service whose topic each reads (the registry's `consumes` of projections).
PROJECTORS: dict[str, Projector] = {"orders": order_writes, "inventory": stock_writes}


async def ensure_indexes(views: AsyncDatabase[Document]) -> None:
    for collection, indexes in INDEXES.items():
        await views[collection].create_indexes(indexes)


async def apply(views: AsyncDatabase[Document], writes: Sequence[Write]) -> int:
    """Applies a batch's writes, in order, as one bulk write per collection; returns how many documents changed.

    A stock level is the product's whole state, so of several in a batch only the newest is written: the older
    ones would change nothing after it."""
    changed = 0
    for collection in dict.fromkeys(write.collection for write in writes):
        mine = [write for write in writes if write.collection == collection]
        if collection == STOCK_VIEWS:
            newest = {write.key: write.version for write in mine}
            for write in mine:
                newest[write.key] = max(newest[write.key], write.version)
            mine = [write for write in mine if write.version == newest[write.key]]
        changed += await _bulk(views[collection], mine)
    return changed


async def _bulk(collection: AsyncCollection[Document], writes: list[Write]) -> int:
    """Ordered, so a document's events apply in turn; OPS_PER_COMMAND writes to a command (see there)."""
    changed = 0
    for start in range(0, len(writes), OPS_PER_COMMAND):
        changed += await _command(collection, writes[start : start + OPS_PER_COMMAND])
    return changed


async def _command(collection: AsyncCollection[Document], writes: list[Write]) -> int:
    """One update command. An upsert collides on the id when its document is newer than its event (a stale event,
    which changes nothing) or when another writer inserted the document meanwhile (a rebuild beside the live
    projection). The command's writes then go again one at a time, each collision once more: a document inserted
    meanwhile but older takes the write then; a newer one collides again and is left as it is. (FerretDB's reply to
    a failed write in a bulk lacks the counts PyMongo's bulk reads, hence KeyError.)"""
    try:
        bulk = await collection.bulk_write([write.operation() for write in writes], ordered=True)
        return bulk.upserted_count + bulk.modified_count
    except (BulkWriteError, KeyError) as error:
        if isinstance(error, BulkWriteError) and error.details["writeErrors"][0]["code"] != DUPLICATE_KEY:
            raise
    changed = 0
    for write in writes:  # again from the start: each write is idempotent
        for _ in range(2):
            try:
                result = await collection.update_one(write.filter, write.change, upsert=write.upsert)
            except DuplicateKeyError:
                continue
            changed += 1 if result.upserted_id is not None else result.modified_count
            break
    return changed
