import asyncio

import pytest
from aiokafka import AIOKafkaProducer

from catalog.v1 import catalog_pb2, events_pb2
from events.v1 import envelope_pb2
from tessera.kit import db, outbox
from tessera.kit.events import make_envelope, unpack
from tessera.kit.kafka import create_producer, publish
from tessera.testing.events import collect_events

pytestmark = pytest.mark.integration


def sample_event(sku: str = "SKU-1", version: int = 1) -> envelope_pb2.EventEnvelope:
    product = catalog_pb2.Product(product_id="p-1", sku=sku, price_cents=100, currency="EUR", version=version)
    return make_envelope(
        events_pb2.ProductCreated(product=product),
        aggregate_type="product",
        aggregate_id="p-1",
        aggregate_version=version,
        producer="test",
    )


async def test_an_event_produced_is_consumed_back(kafka_bootstrap, topic_prefix):
    topic = f"{topic_prefix}roundtrip"
    producer = create_producer(kafka_bootstrap, client_id="test")
    await producer.start()
    sent = sample_event()
    try:
        await publish(producer, topic, sent)
    finally:
        await producer.stop()
    (received,) = await collect_events(kafka_bootstrap, topic, group=f"{topic_prefix}g", count=1)
    assert received == sent
    assert unpack(received, events_pb2.ProductCreated).product.sku == "SKU-1"


async def test_committed_offsets_are_not_redelivered(kafka_bootstrap, topic_prefix):
    topic = f"{topic_prefix}commits"
    producer = create_producer(kafka_bootstrap, client_id="test")
    await producer.start()
    try:
        for version in (1, 2):
            await publish(producer, topic, sample_event(version=version))
    finally:
        await producer.stop()
    group = f"{topic_prefix}g"
    (first,) = await collect_events(kafka_bootstrap, topic, group=group, count=1)
    (second,) = await collect_events(kafka_bootstrap, topic, group=group, count=1)
    assert (first.aggregate_version, second.aggregate_version) == (1, 2)


async def test_outbox_relays_committed_events_in_order_and_never_rolled_back_ones(
    postgres_dsn, kafka_bootstrap, topic_prefix
):
    topic = f"{topic_prefix}outbox"
    pool = await db.create_pool(postgres_dsn)

    def new_producer() -> AIOKafkaProducer:
        return create_producer(kafka_bootstrap, client_id="test")

    try:
        await db.apply_migrations(pool, outbox.KIT_MIGRATIONS)
        async with pool.acquire() as conn:
            async with conn.transaction():
                await outbox.enqueue(conn, topic, sample_event(sku="kept-1", version=1))
            with pytest.raises(RuntimeError):
                async with conn.transaction():
                    await outbox.enqueue(conn, topic, sample_event(sku="rolled-back", version=2))
                    raise RuntimeError("the business change failed")
            async with conn.transaction():
                await outbox.enqueue(conn, topic, sample_event(sku="kept-2", version=2))
        assert await outbox.backlog(pool) == 2

        # A first relay dies before it runs; a second one (e.g. after a restart) delivers everything.
        relay = outbox.OutboxRelay(pool, new_producer, poll_seconds=0.2)
        relay.start()
        async with asyncio.timeout(20):
            while await outbox.backlog(pool):
                await asyncio.sleep(0.05)
        await relay.stop()
    finally:
        await pool.close()

    received = await collect_events(kafka_bootstrap, topic, group=f"{topic_prefix}g", count=2)
    skus = [unpack(e, events_pb2.ProductCreated).product.sku for e in received]
    assert skus == ["kept-1", "kept-2"]


async def test_only_one_relay_is_active_and_a_standby_takes_over(postgres_dsn, kafka_bootstrap, topic_prefix):
    topic = f"{topic_prefix}failover"
    pool = await db.create_pool(postgres_dsn, max_size=6)

    def new_producer() -> AIOKafkaProducer:
        return create_producer(kafka_bootstrap, client_id="test")

    active = outbox.OutboxRelay(pool, new_producer, poll_seconds=0.2)
    standby = outbox.OutboxRelay(pool, new_producer, poll_seconds=0.2)
    try:
        await db.apply_migrations(pool, outbox.KIT_MIGRATIONS)
        active.start()
        await asyncio.sleep(0.5)
        standby.start()
        await asyncio.sleep(0.5)
        holders = await pool.fetchval("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted")
        assert holders == 1
        await active.stop()  # the active instance goes away; the standby must take over
        async with pool.acquire() as conn, conn.transaction():
            await outbox.enqueue(conn, topic, sample_event())
        async with asyncio.timeout(20):
            while await outbox.backlog(pool):
                await asyncio.sleep(0.05)
    finally:
        await standby.stop()
        await active.stop()
        await pool.close()
