"""Rebuilds the views from the event log: empty them, then replay every retained event of the source topics.

    ./pants run src/python/tessera/projections:rebuild      (with the projections' TESSERA_* variables)

Safe beside the live projection: writes are version-guarded, so whichever applies an event last, the newest
state wins. Reads only up to the end offsets seen at its start, so it finishes while events keep coming.
"""

from __future__ import annotations

import asyncio
import time

import asyncpg
from aiokafka import AIOKafkaConsumer, TopicPartition

from tessera.kit.config import KafkaSettings, load_settings
from tessera.kit.db import create_pool
from tessera.kit.events import parse
from tessera.kit.kafka import partitions_of
from tessera.kit.logs import configure_logging
from tessera.projections.config import ProjectionsSettings
from tessera.projections.projectors import PROJECTORS


async def rebuild_views(pool: asyncpg.Pool, kafka: KafkaSettings) -> dict[str, int]:
    """Returns how many events of each topic were replayed."""
    await pool.execute("TRUNCATE order_summaries, stock_views")
    replayed: dict[str, int] = {}
    for topic_name, projector in PROJECTORS.items():
        topic = kafka.topic(topic_name)
        consumer = AIOKafkaConsumer(
            bootstrap_servers=kafka.kafka_bootstrap, enable_auto_commit=False, isolation_level="read_committed"
        )
        await consumer.start()
        try:
            partitions = [TopicPartition(topic, p) for p in await partitions_of(kafka.kafka_bootstrap, topic)]
            replayed[topic_name] = 0
            if not partitions:
                continue
            consumer.assign(partitions)
            await consumer.seek_to_beginning(*partitions)
            ends = await consumer.end_offsets(partitions)
            while [tp for tp in partitions if await consumer.position(tp) < ends[tp]]:
                batches = await consumer.getmany(*partitions, timeout_ms=500)
                async with pool.acquire() as conn, conn.transaction():
                    for records in batches.values():
                        for record in records:
                            await projector(conn, parse(record.value))
                            replayed[topic_name] += 1
        finally:
            await consumer.stop()
    return replayed


async def _main(settings: ProjectionsSettings) -> None:
    began = time.monotonic()
    pool = await create_pool(settings.postgres_dsn)
    try:
        counts = await rebuild_views(pool, settings)
    finally:
        await pool.close()
    print(f"rebuilt the views from {counts} events in {time.monotonic() - began:.2f} s")


def main() -> None:
    settings = load_settings(ProjectionsSettings)
    configure_logging(settings.service_name, level=settings.log_level, json=settings.log_json)
    asyncio.run(_main(settings))


if __name__ == "__main__":
    main()
