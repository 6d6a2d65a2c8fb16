"""The faust app factory against the real broker: an agent receives the envelopes the kit's producer sends, and a
crashed app fails its service."""

import asyncio
import shutil
from contextlib import AsyncExitStack
from pathlib import Path

import faust
import pytest

from tessera.kit.config import KafkaSettings, ServiceSettings
from tessera.kit.events import parse
from tessera.kit.kafka import create_producer, ensure_topics, publish
from tessera.kit.runtime import run_service
from tessera.kit.streams import create_faust_app, start_stream_app
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
        shutil.rmtree(app.conf.datadir, ignore_errors=True)  # started by hand here, not by start_stream_app
    assert seen == [1, 2, 3]  # one aggregate -> one partition -> in order


async def test_a_crashed_stream_processor_fails_its_service(kafka_bootstrap: str, topic_prefix: str) -> None:
    """faust crashes the app on an error in a timer and would leave the process up, idle; the kit stops the service
    with exit code 1 so its supervisor restarts it."""
    kafka = KafkaSettings(kafka_bootstrap=kafka_bootstrap, kafka_topic_prefix=topic_prefix)
    app = create_faust_app("kit-crash", kafka)
    ticks: list[float] = []
    await ensure_topics(kafka_bootstrap, [kafka.topic("crash-in")], partitions=1, replication=1)

    @app.agent(app.topic(kafka.topic("crash-in"), value_type=bytes, value_serializer="raw"))
    async def idle(stream: faust.StreamT[bytes]) -> None:
        async for _ in stream:
            pass

    @app.timer(interval=0.2)
    async def broken_sweep() -> None:
        ticks.append(asyncio.get_running_loop().time())
        raise RuntimeError("an error nothing handles")

    async def start(stack: AsyncExitStack) -> None:
        await start_stream_app(app, stack)

    settings = ServiceSettings(service_name="kit-crash", kit_middleware=False)
    exit_code = await asyncio.wait_for(run_service(settings, start), timeout=60)
    assert exit_code == 1
    assert ticks  # it was the timer's error that stopped it
    assert app.crashed
    assert not Path(app.conf.datadir).exists()  # the service removed its scratch directory as it stopped
