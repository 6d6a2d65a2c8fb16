"""Kafka producing and consuming with aiokafka.

Producers are idempotent with acks=all: a retried send is never written twice and an acknowledged event is on
every in-sync replica. Consumers commit offsets only after the handler succeeded (at-least-once delivery);
handlers must therefore be idempotent, e.g. by recording handled event ids (see `outbox.processed_event`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from events.v1 import envelope_pb2
from tessera.kit.events import parse
from tessera.kit.logs import get_logger

log = get_logger(__name__)


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


def create_consumer(bootstrap: str, *topics: str, group_id: str, client_id: str) -> AIOKafkaConsumer:
    return AIOKafkaConsumer(
        *topics,
        bootstrap_servers=bootstrap,
        group_id=group_id,
        client_id=client_id,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        isolation_level="read_committed",
    )


async def envelopes(consumer: AIOKafkaConsumer) -> AsyncIterator[envelope_pb2.EventEnvelope]:
    """Yields envelopes and commits each one's offset once the consumer asks for the next (after handling)."""
    async for record in consumer:
        yield parse(record.value)
        await consumer.commit()


async def consume(consumer: AIOKafkaConsumer, handle: Callable[[envelope_pb2.EventEnvelope], Awaitable[None]]) -> None:
    """Runs `handle` for every envelope until cancelled; an exception in `handle` stops the loop uncommitted."""
    async for envelope in envelopes(consumer):
        await handle(envelope)
