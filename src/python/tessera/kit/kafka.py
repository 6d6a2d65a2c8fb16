"""Kafka producing and consuming with aiokafka.

Producers are idempotent with acks=all: a retried send is never written twice and an acknowledged event is on
every in-sync replica. Consumers commit offsets only after the handler succeeded (at-least-once delivery);
handlers must therefore be idempotent, e.g. by recording handled event ids (see `outbox.processed_event`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic, RecordsToDelete
from aiokafka.errors import TopicAlreadyExistsError

from events.v1 import envelope_pb2
from tessera.kit.events import parse
from tessera.kit.logs import get_logger
from tessera.kit.metrics import KAFKA_CONSUMER_LAG
from tessera.kit.tasks import cancel_and_wait

log = get_logger(__name__)


@contextlib.asynccontextmanager
async def admin_client(
    bootstrap: str, client_id: str = "tessera-admin", **options: Any
) -> AsyncIterator[AIOKafkaAdminClient]:
    """A started admin client, closed on leaving the block."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, client_id=client_id, **options)
    await admin.start()
    try:
        yield admin
    finally:
        await admin.close()


async def ensure_topics(bootstrap: str, topics: list[str], *, partitions: int, replication: int) -> None:
    """Creates the topics that do not exist yet. Production brokers disable auto-creation, and consumers that
    join before a topic exists get no partitions of it, so services declare their topics at start."""
    async with admin_client(bootstrap) as admin:
        existing = set(await admin.list_topics())
        missing = [NewTopic(t, num_partitions=partitions, replication_factor=replication) for t in topics]
        missing = [t for t in missing if t.name not in existing]
        if missing:
            with contextlib.suppress(TopicAlreadyExistsError):  # another replica created it meanwhile
                await admin.create_topics(missing)
            log.info("kafka topics created", topics=[t.name for t in missing])


def create_producer(bootstrap: str, *, client_id: str) -> AIOKafkaProducer:
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        client_id=client_id,
        acks="all",
        enable_idempotence=True,
        linger_ms=5,
        request_timeout_ms=10_000,
    )


async def publish(producer: AIOKafkaProducer, topic: str, envelope: envelope_pb2.EventEnvelope) -> None:
    """Sends one envelope keyed by its aggregate id (one aggregate's events stay ordered) and waits for the ack."""
    await producer.send_and_wait(
        topic,
        value=envelope.SerializeToString(),
        key=envelope.aggregate_id.encode(),
        headers=[("event_type", envelope.event_type.encode()), ("event_id", envelope.event_id.encode())],
    )


def create_consumer(
    bootstrap: str, *topics: str, group_id: str, client_id: str, start_at: str = "earliest"
) -> AIOKafkaConsumer:
    """A consumer that commits only what was handled; a new group starts at the `start_at` end ("latest": only
    what arrives from now on)."""
    return AIOKafkaConsumer(
        *topics,
        bootstrap_servers=bootstrap,
        group_id=group_id,
        client_id=client_id,
        enable_auto_commit=False,
        auto_offset_reset=start_at,
        isolation_level="read_committed",
    )


async def consume(
    consumer: AIOKafkaConsumer,
    handle: Callable[[envelope_pb2.EventEnvelope], Awaitable[None]],
    *,
    limit: int | None = None,
) -> int:
    """Runs `handle` on each envelope, committing its offset right after `handle` returns.

    Runs until cancelled, or until `limit` envelopes were handled and committed. If `handle` raises, the loop
    stops with that envelope uncommitted, so it is delivered again (to this group) after a restart.
    """
    handled = 0
    async for record in consumer:
        await handle(parse(record.value))
        await consumer.commit({TopicPartition(record.topic, record.partition): record.offset + 1})
        handled += 1
        if limit is not None and handled >= limit:
            break
    return handled


async def partitions_of(bootstrap: str, topic: str) -> list[int]:
    """The partition numbers of `topic` ([] if it does not exist), asked of the broker itself."""
    async with admin_client(bootstrap) as admin:
        (description,) = await admin.describe_topics([topic])
    if description.get("error_code"):
        return []
    return sorted(p["partition"] for p in description["partitions"])


async def end_offsets(bootstrap: str, topic: str) -> dict[int, int]:
    """The next offset to be written on each partition of `topic`."""
    partitions = [TopicPartition(topic, p) for p in await partitions_of(bootstrap, topic)]
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, client_id="tessera-admin", enable_auto_commit=False)
    await consumer.start()
    try:
        return {tp.partition: offset for tp, offset in (await consumer.end_offsets(partitions)).items()}
    finally:
        await consumer.stop()


async def delete_consumed_records(bootstrap: str, topic: str, until: dict[int, int]) -> dict[int, int]:
    """Deletes the records of `topic` below `until` (partition -> offset) on each partition that every consumer
    group reading the topic has committed past; returns what it deleted. A group still behind keeps its records
    until a later call: nothing a consumer has yet to read is lost. (A group reads the topic if it committed on
    any of its partitions; on one where it has not committed yet, it has read nothing.)"""
    async with admin_client(bootstrap) as admin:
        readers: list[dict[int, int]] = []
        for group, *_ in await admin.list_consumer_groups():
            offsets = await admin.list_consumer_group_offsets(group)
            read = {tp.partition: meta.offset for tp, meta in offsets.items() if tp.topic == topic}
            if read:
                readers.append(read)
        ready = {p: offset for p, offset in until.items() if all(read.get(p, 0) >= offset for read in readers)}
        if ready:
            await admin.delete_records(
                {TopicPartition(topic, p): RecordsToDelete(before_offset=offset) for p, offset in ready.items()}
            )
        return ready


async def consumer_lag(admin: AIOKafkaAdminClient, consumer: AIOKafkaConsumer, group: str) -> dict[TopicPartition, int]:
    """Messages not yet committed by consumer `group`, per partition it has committed on (started clients)."""
    committed = await admin.list_consumer_group_offsets(group)
    if not committed:
        return {}
    ends = await consumer.end_offsets(list(committed))
    return {tp: max(0, ends[tp] - meta.offset) for tp, meta in committed.items() if meta.offset >= 0}


class ConsumerLagMonitor:
    """Exports a consumer group's lag as `kafka_consumer_lag` every `every_seconds` (for alerts and autoscaling).

    Its admin client and offsets consumer stay connected between readings: opening them for each reading cost
    the broker new connections, version probes and metadata requests every few seconds, in every service.
    """

    def __init__(self, bootstrap: str, group: str, every_seconds: float = 5.0) -> None:
        self._bootstrap = bootstrap
        self._group = group
        self._every = every_seconds
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"lag-{self._group}")

    async def stop(self) -> None:
        await cancel_and_wait(self._task)

    async def _run(self) -> None:
        while True:
            admin = AIOKafkaAdminClient(bootstrap_servers=self._bootstrap, client_id="tessera-lag")
            consumer = AIOKafkaConsumer(bootstrap_servers=self._bootstrap, client_id="tessera-lag",
                                        enable_auto_commit=False)  # fmt: skip
            try:
                await admin.start()
                await consumer.start()
                while True:
                    for tp, lag in (await consumer_lag(admin, consumer, self._group)).items():
                        KAFKA_CONSUMER_LAG.labels(self._group, tp.topic, str(tp.partition)).set(lag)
                    await asyncio.sleep(self._every)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # - a lag reading must never stop the service; reconnect next round
                log.warning("could not read consumer lag", group=self._group, error=str(exc))
                await asyncio.sleep(self._every)
            finally:
                with contextlib.suppress(Exception):
                    await admin.close()
                with contextlib.suppress(Exception):
                    await consumer.stop()
