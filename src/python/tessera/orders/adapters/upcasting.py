"""Stored order events of older versions, brought to the current one.

OrderPlaced v1 carried the customer's raw card token in field 6; v2 reserves that field and carries a payment
method's id instead (payments keeps the token). `upcast` turns a v1 envelope into v2 by dropping the token; the
data migration below rewrites the stored copies (event store and outbox) at start, before the outbox relay
publishes anything, so no token stays in the orders database. A v1 event has no payment method: its saga had
long finished, or (placed just before the upgrade) finds none and is rejected, and the customer places it again.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg
from google.protobuf.unknown_fields import UnknownFieldSet
from orders.v1 import events_pb2

from events.v1 import envelope_pb2
from tessera.kit.db import Connection
from tessera.kit.logs import get_logger

log = get_logger(__name__)

ORDER_PLACED = events_pb2.OrderPlaced.DESCRIPTOR.full_name
V1_CARD_TOKEN_FIELD = 6
MIGRATION = "order-placed-v2-without-card-token"
BATCH = 500


def upcast(envelope: envelope_pb2.EventEnvelope) -> bool:
    """Rewrites a v1 OrderPlaced in place to v2; True if it was v1."""
    if not envelope.payload.Is(events_pb2.OrderPlaced.DESCRIPTOR):
        return False
    placed = events_pb2.OrderPlaced()
    envelope.payload.Unpack(placed)
    unknown = UnknownFieldSet(placed)
    if not any(unknown[i].field_number == V1_CARD_TOKEN_FIELD for i in range(len(unknown))):
        return False
    placed.DiscardUnknownFields()
    envelope.payload.Pack(placed)
    return True


async def migrate_stored_events(pool: asyncpg.Pool) -> dict[str, int]:
    """Rewrites v1 OrderPlaced events in the event store and the outbox; returns how many of each.

    The first run reads every OrderPlaced; each later start reads those stored since an hour before the last run,
    which catches what replicas of the previous version wrote while a rolling update replaced them.
    """
    async with pool.acquire() as conn:
        last = await conn.fetchval("SELECT finished_at FROM order_data_migrations WHERE name = $1", MIGRATION)
        since = None if last is None else last - timedelta(hours=1)
        began = datetime.now(UTC)
        rewritten = {
            "event_store": await _rewrite(conn, "event_store", "envelope", "recorded_at", since),
            "outbox": await _rewrite(conn, "outbox", "payload", "created_at", since),
        }
        await conn.execute(
            """INSERT INTO order_data_migrations (name, finished_at) VALUES ($1, $2)
               ON CONFLICT (name) DO UPDATE SET finished_at = excluded.finished_at""",
            MIGRATION,
            began,
        )
    if any(rewritten.values()):
        log.info("stored OrderPlaced events migrated to v2 (card tokens dropped)", **rewritten)
    return rewritten


async def _rewrite(conn: Connection, table: str, column: str, stored_at: str, since: datetime | None) -> int:
    """Batch by batch in event id order, each batch its own transaction: a crash resumes (rewriting is idempotent)."""
    rewritten, after = 0, None
    while True:
        async with conn.transaction():
            rows = await conn.fetch(
                f"""SELECT event_id, {column} AS data FROM {table}
                    WHERE event_type = $1 AND ($2::timestamptz IS NULL OR {stored_at} >= $2)
                      AND ($3::uuid IS NULL OR event_id > $3)
                    ORDER BY event_id LIMIT {BATCH}""",
                ORDER_PLACED,
                since,
                after,
            )
            for row in rows:
                envelope = envelope_pb2.EventEnvelope.FromString(row["data"])
                if upcast(envelope):
                    await conn.execute(
                        f"UPDATE {table} SET {column} = $1 WHERE event_id = $2",
                        envelope.SerializeToString(),
                        row["event_id"],
                    )
                    rewritten += 1
        if len(rows) < BATCH:
            return rewritten
        after = rows[-1]["event_id"]
