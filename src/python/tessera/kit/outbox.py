"""Transactional outbox: write events with the state change, relay them to Kafka after commit.

This removes the dual write (DB commit + Kafka send) that loses or invents events when either fails. The relay
is a single active instance per database (a Postgres advisory lock elects it), so events leave in commit order
and one aggregate's events keep their order; replicas stand by and take over if it dies. Delivery is at least
once: an event is marked published only after Kafka acknowledged it, so a crash in between re-sends it, and
consumers deduplicate on the envelope's event id.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from datetime import timedelta

import asyncpg
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from events.v1 import envelope_pb2
from tessera.kit import migrations as kit_migrations
from tessera.kit import tracing
from tessera.kit.db import Connection
from tessera.kit.events import parse
from tessera.kit.logs import get_logger
from tessera.kit.metrics import OUTBOX_BACKLOG, OUTBOX_PUBLISHED
from tessera.kit.tasks import cancel_and_wait

log = get_logger(__name__)

# The package of the kit's own migrations (outbox, processed_events): pass it to db.apply_migrations.
KIT_MIGRATIONS = kit_migrations.__name__
NOTIFY_CHANNEL = "tessera_outbox"
_RELAY_LOCK_KEY = 0x0B7B0C5


async def enqueue(conn: Connection, topic: str, *envelopes: envelope_pb2.EventEnvelope) -> None:
    """Adds the events to the outbox, in order; call it inside the transaction that makes the change.

    One statement for all of them, notification included: a round trip per row (and another per NOTIFY) was a
    large part of a use case's cost. The notification wakes the relay at once; Postgres delivers it only on
    commit, and folds repeats within a transaction into one.
    """
    if not envelopes:
        return
    await conn.execute(
        """WITH written AS (
               INSERT INTO outbox (topic, message_key, payload, event_id, event_type)
               SELECT $1, key, payload, event_id::uuid, event_type
               FROM unnest($2::bytea[], $3::bytea[], $4::text[], $5::text[])
                    WITH ORDINALITY AS e(key, payload, event_id, event_type, position)
               ORDER BY position
               RETURNING 1)
           SELECT pg_notify($6, '') FROM (SELECT 1 FROM written LIMIT 1) AS any_row""",
        topic,
        [e.aggregate_id.encode() for e in envelopes],
        [e.SerializeToString() for e in envelopes],
        [e.event_id for e in envelopes],
        [e.event_type for e in envelopes],
        NOTIFY_CHANNEL,
    )


async def processed_event(conn: Connection, consumer: str, event_id: str) -> bool:
    """Records that `consumer` handled `event_id`; False if it already had (skip the effect).

    Call it inside the transaction that applies the effect, so both commit or neither does.
    """
    status = await conn.execute(
        "INSERT INTO processed_events (consumer, event_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        consumer,
        event_id,
    )
    return bool(status == "INSERT 0 1")


async def backlog(pool: asyncpg.Pool) -> int:
    """Events written but not yet acknowledged by Kafka."""
    return int(await pool.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL"))


async def _step_down(leader_conn: Connection, on_notify: Callable[..., None]) -> None:
    """Gives up the relay's lock and notifications before the connection goes back to the pool. The pool does not
    reset session state (see db.create_pool), so if that fails the connection is closed rather than reused."""
    try:
        await leader_conn.remove_listener(NOTIFY_CHANNEL, on_notify)
        await leader_conn.execute("SELECT pg_advisory_unlock($1)", _RELAY_LOCK_KEY)
    except BaseException:
        leader_conn.terminate()
        raise


class OutboxRelay:
    def __init__(
        self,
        pool: asyncpg.Pool,
        new_producer: Callable[[], AIOKafkaProducer],
        *,
        batch_size: int = 200,
        poll_seconds: float = 1.0,
        idle_poll_seconds: float = 5.0,
        retention: timedelta = timedelta(days=1),
    ) -> None:
        self._pool = pool
        self._new_producer = new_producer
        self._producer: AIOKafkaProducer | None = None
        self._batch_size = batch_size
        self._poll_seconds = poll_seconds  # retrying after an error, and a standby asking for the lock
        # Between notifications, a look for events whose notification was missed (sent while the relay
        # reconnected): a query, and a span, a second in every service was most of an idle service's work.
        self._idle_poll_seconds = idle_poll_seconds
        self._retention = retention
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._gauge_task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="outbox-relay")
        self._gauge_task = asyncio.create_task(self._measure_backlog(), name="outbox-backlog")

    async def stop(self) -> None:
        for task in (self._task, self._gauge_task):
            await cancel_and_wait(task)
        self._task = self._gauge_task = None

    async def _measure_backlog(self, every_seconds: float = 5.0) -> None:
        """Exports the backlog from every replica, leader or not: it grows when Kafka is away."""
        while True:
            try:
                OUTBOX_BACKLOG.set(await backlog(self._pool))
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.warning("cannot measure the outbox backlog", error=str(exc))
            await asyncio.sleep(every_seconds)

    async def _run(self) -> None:
        while True:
            try:
                async with self._pool.acquire() as leader_conn:
                    if not await leader_conn.fetchval("SELECT pg_try_advisory_lock($1)", _RELAY_LOCK_KEY):
                        await asyncio.sleep(self._poll_seconds)  # another replica relays; stand by
                        continue
                    await leader_conn.add_listener(NOTIFY_CHANNEL, self._on_notify)
                    # A fresh idempotent producer per term: after a broker restart an old one can be stuck for
                    # good (OutOfOrderSequenceNumber); unacknowledged events are simply sent again.
                    self._producer = self._new_producer()
                    try:
                        await self._producer.start()
                        log.info("outbox relay is the active instance")
                        await self._relay_forever(leader_conn)
                    finally:
                        producer, self._producer = self._producer, None
                        with contextlib.suppress(KafkaError, OSError):
                            await producer.stop()
                        await _step_down(leader_conn, self._on_notify)
            except asyncio.CancelledError:
                raise
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, KafkaError) as exc:
                log.warning("outbox relay interrupted; retrying", error=str(exc))
                await asyncio.sleep(self._poll_seconds)

    def _on_notify(self, *_: object) -> None:
        self._wake.set()

    async def _relay_forever(self, leader_conn: Connection) -> None:
        rounds = 0
        while True:
            sent = await self.relay_once(leader_conn)
            rounds += 1
            if rounds % 1000 == 0:
                await self._purge()
            if sent < self._batch_size:  # drained: sleep until notified or the poll interval passes
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self._idle_poll_seconds)

    async def relay_once(self, leader_conn: Connection) -> int:
        """Publishes one batch of unpublished events in order; returns how many.

        It reads and marks the batch on the connection that holds the relay's lock, so only the lock's holder
        relays, without a transaction and row locks around the batch (which cost four round trips a batch, where
        these are two). If that connection breaks, the lock goes with it and the batch stays unmarked: the next
        relay sends it again (at least once; consumers dedupe by event id).
        """
        rows = await leader_conn.fetch(
            "SELECT id, topic, message_key, payload, event_id, event_type FROM outbox "
            "WHERE published_at IS NULL ORDER BY id LIMIT $1",
            self._batch_size,
        )
        if not rows:
            return 0
        # Send the whole batch, then wait for every ack; idempotence keeps order and avoids duplicates.
        pending = [await self._send(row) for row in rows]
        await asyncio.gather(*pending)
        await leader_conn.execute(
            "UPDATE outbox SET published_at = now() WHERE id = ANY($1::bigint[])", [r["id"] for r in rows]
        )
        for row in rows:
            OUTBOX_PUBLISHED.labels(row["topic"]).inc()
        return len(rows)

    async def _send(self, row: asyncpg.Record) -> asyncio.Future[object]:
        """Sends one event in a span continuing the trace that wrote it; its traceparent goes in the headers."""
        payload = bytes(row["payload"])
        attributes = {"messaging.message.id": str(row["event_id"]), "tessera.event_type": row["event_type"]}
        if self._producer is None:
            raise RuntimeError("relay_once runs only while this relay is the active instance")
        with tracing.publishing(row["topic"], parse(payload).trace.traceparent, attributes) as traceparent:
            future: asyncio.Future[object] = await self._producer.send(
                row["topic"],
                value=payload,
                key=bytes(row["message_key"]),
                headers=[
                    ("event_type", row["event_type"].encode()),
                    ("event_id", str(row["event_id"]).encode()),
                    (tracing.TRACEPARENT, traceparent.encode()),
                ],
            )
        return future

    async def _purge(self) -> None:
        await self._pool.execute("DELETE FROM outbox WHERE published_at < now() - $1::interval", self._retention)
