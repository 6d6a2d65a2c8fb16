"""Reading events back from Kafka in tests."""

from __future__ import annotations

import asyncio

from events.v1 import envelope_pb2
from tessera.kit.kafka import consume, create_consumer


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
