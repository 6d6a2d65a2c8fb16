"""Stored order events of older versions, brought to the current one.

OrderPlaced v1 carried the customer's raw card token in field 6; v2 reserves that field and carries a payment
method's id instead (payments keeps the token). `upcast` turns a v1 envelope into v2 by dropping the token; the
data migration below rewrites the stored copies (event store and outbox) at start, before the outbox relay
publishes anything, so no token stays in the orders database. Kafka's copies of what it rewrote go too: the
topic's records up to where it ended then are deleted once every consumer group has read past them (a rebuild of
the read side replays the event store, not the topic). A v1 event has no payment method: its saga had long
finished, or (placed just before the upgrade) finds none and is rejected, and the customer places it again.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import asyncpg
from google.protobuf.unknown_fields import UnknownFieldSet
from orders.v1 import events_pb2

from events.v1 import envelope_pb2
from tessera.kit import kafka
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


async def plan_kafka_purge(pool: asyncpg.Pool, bootstrap: str, topic: str) -> dict[int, int]:
    """Records that the topic's records written so far are to go (they may hold v1 copies)."""
    until = await kafka.end_offsets(bootstrap, topic)
    async with pool.acquire() as conn:
        await conn.executemany(
            """INSERT INTO order_kafka_purges (topic, partition, until_offset) VALUES ($1, $2, $3)
               ON CONFLICT (topic, partition) DO UPDATE
               SET until_offset = greatest(order_kafka_purges.until_offset, excluded.until_offset), done_at = NULL""",
            [(topic, partition, offset) for partition, offset in until.items()],
        )
    return until


async def purge_kafka_copies(pool: asyncpg.Pool, bootstrap: str, every_seconds: float = 10.0) -> None:
    """Deletes the planned records as soon as every consumer group has read them; returns when none is left."""
    while True:
        try:
            pending = await _purge_once(pool, bootstrap)
        except Exception:  # Kafka or the database away for a while: the next round tries again
            log.exception("deleting kafka copies of migrated events failed")
            pending = True
        if not pending:
            return
        await asyncio.sleep(every_seconds)


async def _purge_once(pool: asyncpg.Pool, bootstrap: str) -> bool:
    """One round; True if records are still to be deleted."""
    async with pool.acquire() as conn:
        pending = await conn.fetch(
            "SELECT topic, partition, until_offset FROM order_kafka_purges WHERE done_at IS NULL"
        )
        by_topic: dict[str, dict[int, int]] = {}
        for row in pending:
            by_topic.setdefault(row["topic"], {})[row["partition"]] = row["until_offset"]
        left = 0
        for topic, until in by_topic.items():
            deleted = await kafka.delete_consumed_records(bootstrap, topic, until)
            left += len(until) - len(deleted)
            await conn.executemany(
                "UPDATE order_kafka_purges SET done_at = now() WHERE topic = $1 AND partition = $2",
                [(topic, partition) for partition in deleted],
            )
            if deleted:
                log.info("kafka copies of migrated events deleted", topic=topic, below=deleted)
    return left > 0
