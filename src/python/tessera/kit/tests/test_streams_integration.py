"""The faust app factory against the real broker: an agent receives the envelopes the kit's producer sends."""

import asyncio

import pytest

from tessera.kit.config import KafkaSettings
from tessera.kit.events import parse
from tessera.kit.kafka import create_producer, ensure_topics, publish
from tessera.kit.streams import create_faust_app
from tessera.kit.tests.test_kafka_integration import sample_event

pytestmark = pytest.mark.integration


async def test_agent_from_factory_processes_published_envelopes(kafka_bootstrap, topic_prefix):
    settings = KafkaSettings(kafka_bootstrap=kafka_bootstrap, kafka_topic_prefix=topic_prefix)
    app = create_faust_app("kit-test", settings)
    topic = app.topic(settings.topic("stream-in"), value_type=bytes, value_serializer="raw")
    seen: list[int] = []
    done = asyncio.Event()

    @app.agent(topic)
    async def record_versions(stream):
        async for raw in stream:
            seen.append(parse(raw).aggregate_version)
            if len(seen) == 3:
                done.set()

    await ensure_topics(kafka_bootstrap, [settings.topic("stream-in")], partitions=4, replication=1)
    producer = create_producer(kafka_bootstrap, client_id="test")
    await producer.start()
    await app.start()
    try:
        for version in (1, 2, 3):
            await publish(producer, settings.topic("stream-in"), sample_event(version=version))
        await asyncio.wait_for(done.wait(), timeout=60)
    finally:
        await app.stop()
        await producer.stop()
    assert seen == [1, 2, 3]  # one aggregate -> one partition -> in order
