"""Reading events back from Kafka in tests."""

from __future__ import annotations

import asyncio

from aiokafka import AIOKafkaConsumer, TopicPartition

from events.v1 import envelope_pb2
from tessera.kit.kafka import admin_client, consume, create_consumer


async def collect_events(
    bootstrap: str, topic: str, *, group: str, count: int, timeout: float = 30.0
) -> list[envelope_pb2.EventEnvelope]:
    """The next `count` envelopes on `topic` for consumer group `group` (committed); fails after `timeout` s."""
    consumer = create_consumer(bootstrap, topic, group_id=group, client_id="test")
    await consumer.start()
    found: list[envelope_pb2.EventEnvelope] = []

    async def keep(envelope: envelope_pb2.EventEnvelope) -> None:
        found.append(envelope)

    try:
        async with asyncio.timeout(timeout):
            await consume(consumer, keep, limit=count)
    finally:
        await consumer.stop()
    return found


async def every_record(bootstrap: str, topic_prefix: str) -> list[bytes]:
    """Key and value of every record now on the topics named with `topic_prefix`, read from the start."""
    async with admin_client(bootstrap, "test-scan") as admin:
        topics = sorted(t for t in await admin.list_topics() if t.startswith(topic_prefix))
        described = await admin.describe_topics(topics)
    partitions = [TopicPartition(t["topic"], p["partition"]) for t in described for p in t["partitions"]]
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, client_id="test-scan")
    await consumer.start()
    try:
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        found: list[bytes] = []

        async def behind() -> bool:
            return any([await consumer.position(tp) < end for tp, end in ends.items()])

        async with asyncio.timeout(60):
            while await behind():
                for records in (await consumer.getmany(timeout_ms=500)).values():
                    found.extend((r.key or b"") + (r.value or b"") for r in records)
        return found
    finally:
        await consumer.stop()
