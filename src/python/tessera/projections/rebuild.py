"""Rebuilds the views from the event log: empty them, then replay every retained event of the source topics.

    ./pants run src/python/tessera/projections:rebuild      (with the projections' TESSERA_* variables)

Safe beside the live projection: writes are version-guarded, so whichever applies an event last, the newest
state wins. Reads only up to the end offsets seen at its start, so it finishes while events keep coming. Each
fetched batch is one bulk write per view, as in the live projection.
"""

from __future__ import annotations

import asyncio
import time

from aiokafka import AIOKafkaConsumer, TopicPartition
from pymongo.asynchronous.database import AsyncDatabase

from tessera.kit.config import KafkaSettings, load_settings
from tessera.kit.documents import Document, create_mongo
from tessera.kit.events import parse
from tessera.kit.kafka import partitions_of
from tessera.kit.logs import configure_logging
from tessera.projections.config import ProjectionsSettings
from tessera.projections.projectors import ORDER_SUMMARIES, PROJECTORS, STOCK_VIEWS, apply, ensure_indexes
from tessera.topology import topic_of


async def rebuild_views(views: AsyncDatabase[Document], kafka: KafkaSettings) -> dict[str, int]:
    """Returns how many events of each topic were replayed."""
    for collection in (ORDER_SUMMARIES, STOCK_VIEWS):
        await views[collection].delete_many({})  # the indexes stay
    await ensure_indexes(views)
    replayed: dict[str, int] = {}
    for producer, projector in PROJECTORS.items():
        topic_name = topic_of(producer)
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
                records = [record for batch in batches.values() for record in batch]
                await apply(views, [write for record in records for write in projector(parse(record.value))])
                replayed[topic_name] += len(records)
        finally:
            await consumer.stop()
    return replayed


async def _main(settings: ProjectionsSettings) -> None:
    began = time.monotonic()
    client = create_mongo(settings.mongo_url, app_name="projections-rebuild")
    try:
        counts = await rebuild_views(client[settings.mongo_database], settings)
    finally:
        await client.close()
    print(f"rebuilt {ORDER_SUMMARIES} and {STOCK_VIEWS} from {counts} events in {time.monotonic() - began:.2f} s")


def main() -> None:
    settings = load_settings(ProjectionsSettings)
    configure_logging(settings.service_name, level=settings.log_level, json=settings.log_json)
    asyncio.run(_main(settings))


if __name__ == "__main__":
    main()
