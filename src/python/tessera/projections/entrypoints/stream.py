"""The live projection: faust agents apply every order and stock event to the views as it arrives."""

from __future__ import annotations

import asyncpg
import faust

from tessera.kit import tracing
from tessera.kit.config import KafkaSettings
from tessera.kit.db import retrying_through_outages
from tessera.kit.events import parse
from tessera.kit.metrics import EVENTS_CONSUMED
from tessera.kit.streams import create_faust_app, traceparent_of
from tessera.projections.projectors import PROJECTORS, Projector


def build_projection_app(kafka: KafkaSettings, pool: asyncpg.Pool) -> faust.App:
    app = create_faust_app("projections", kafka)
    for topic_name, projector in PROJECTORS.items():
        _add_agent(app, kafka.topic(topic_name), topic_name, projector, pool)
    return app


def _add_agent(app: faust.App, topic_name: str, label: str, projector: Projector, pool: asyncpg.Pool) -> None:
    topic = app.topic(topic_name, value_type=bytes, value_serializer="raw")

    async def project(stream: faust.StreamT[bytes]) -> None:
        async for raw in stream:
            envelope = parse(raw)
            with tracing.consuming(topic_name, traceparent_of(stream, envelope), app.conf.id):
                async for attempt in retrying_through_outages():
                    with attempt:
                        async with pool.acquire() as conn:
                            changed = await projector(conn, envelope)
            EVENTS_CONSUMED.labels(
                f"projections:{label}", envelope.event_type, "applied" if changed else "skipped"
            ).inc()

    app.agent(topic, name=f"project-{label}")(project)
