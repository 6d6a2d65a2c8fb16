"""The faust app factory for stream processors (faust-streaming on Kafka).

Defaults are tuned for fast group joins and restarts: faust's 60 s session timeout makes a restarted worker
wait long for its partitions. faust's exactly-once mode is not used (it has open reports of duplicates around
rebalances); agents dedupe by event id instead (`outbox.processed_event`).
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import faust

from events.v1 import envelope_pb2
from tessera.kit import tracing
from tessera.kit.config import KafkaSettings
from tessera.kit.runtime import fail_service
from tessera.kit.tasks import cancel_and_wait


def create_faust_app(app_id: str, kafka: KafkaSettings, *, web_port: int | None = None, **overrides: Any) -> faust.App:
    full_id = f"{kafka.kafka_topic_prefix}{app_id}"
    settings: dict[str, Any] = {
        "broker": f"kafka://{kafka.kafka_bootstrap}",
        "store": "memory://",
        # faust's default data directory is relative to the working directory, which is read-only in a pod.
        "datadir": str(Path(tempfile.gettempdir()) / f"faust-{full_id}"),
        "topic_allow_declare": True,
        "topic_disable_leader": True,
        "topic_partitions": kafka.kafka_partitions,
        "topic_replication_factor": kafka.kafka_replication,
        "broker_session_timeout": 6.0,
        "broker_heartbeat_interval": 1.5,
        "broker_rebalance_timeout": 10.0,
        # Offsets of handled events are committed once a second, not after each one: a commit per event was a
        # request (and a write to __consumer_offsets) per event on the broker. Delivery stays at least once; after
        # a crash up to a second of events comes again, and the agents dedupe by event id.
        "broker_commit_every": 10_000,
        "broker_commit_interval": 1.0,
        "consumer_auto_offset_reset": "earliest",
        "producer_acks": -1,
        "web_enabled": web_port is not None,
        "web_port": web_port or 6066,
        "web_bind": "127.0.0.1",
    }
    settings.update(overrides)
    return faust.App(full_id, **settings)


async def start_stream_app(app: faust.App, stack: AsyncExitStack) -> None:
    """Runs a faust app for the service's lifetime. If the app crashes (faust does so on an error it does not
    handle, e.g. in a timer), the service fails: faust would leave the process up, consuming nothing."""
    # Tables live in memory (`store`); the data directory holds only faust's scratch files, gone with the process.
    stack.push_async_callback(asyncio.to_thread, shutil.rmtree, app.conf.datadir, True)
    await app.start()
    stack.push_async_callback(app.stop)
    watcher = asyncio.create_task(_fail_on_crash(app), name=f"watch-{app.conf.id}")
    stack.push_async_callback(cancel_and_wait, watcher)  # unwinds first: stopping the app on purpose is no crash


async def _fail_on_crash(app: faust.App) -> None:
    await app.wait_until_stopped()
    if app.crashed:
        fail_service(f"stream processor {app.conf.id} crashed: {app.crash_reason!r}")


def traceparent_of(stream: faust.StreamT[Any], envelope: envelope_pb2.EventEnvelope) -> str:
    """The trace a message continues: its Kafka header (the publish span), else the one stored in its envelope."""
    event = stream.current_event
    from_header = tracing.header_value(event.headers if event is not None else None, tracing.TRACEPARENT)
    return from_header or envelope.trace.traceparent
