"""The live projection: faust agents take the order and stock events in batches and write each batch to the views.

A batch is what arrived within BATCH_SECONDS (at most BATCH_SIZE events): under load, one bulk write per collection
for many events; when idle, an event reaches its view within that time. faust acknowledges a batch's offsets only
after the next is taken, so a crash replays the batch, and the version-guarded writes make that harmless.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import ExitStack
from typing import cast

import faust
from faust.streams import Stream
from pymongo.asynchronous.database import AsyncDatabase

from tessera.kit import tracing
from tessera.kit.config import KafkaSettings
from tessera.kit.db import retrying_through_outages
from tessera.kit.documents import Document, is_outage
from tessera.kit.events import parse
from tessera.kit.metrics import EVENTS_CONSUMED
from tessera.kit.streams import create_faust_app
from tessera.projections.projectors import PROJECTORS, Projector, apply
from tessera.topology import topic_of

BATCH_SIZE = 500
BATCH_SECONDS = 0.05


def build_projection_app(
    kafka: KafkaSettings, views: AsyncDatabase[Document], deployed_topic_of: Callable[[str], str]
) -> faust.App:
    """An agent per projector, on the topic of the service it reads (`deployed_topic_of`: the service's topic as
    this deployment names it), labelled with the topic's registry name."""
    app = create_faust_app("projections", kafka)
    for producer, projector in PROJECTORS.items():
        _add_agent(app, deployed_topic_of(producer), topic_of(producer), projector, views)
    return app


def _add_agent(
    app: faust.App, topic_name: str, label: str, projector: Projector, views: AsyncDatabase[Document]
) -> None:
    topic = app.topic(topic_name, value_type=bytes, value_serializer="raw")

    async def project(stream: faust.StreamT[bytes]) -> None:
        # faust types an agent's stream as StreamT; what it passes is a Stream, which has take_events.
        async for events in cast(Stream[bytes], stream).take_events(BATCH_SIZE, within=BATCH_SECONDS):
            envelopes = [parse(event.value) for event in events]
            with ExitStack() as spans:
                # A consumer span in each event's trace (from its Kafka header, else its envelope), so an order's
                # trace shows its projection; the batch's write is a child of the last.
                for event, envelope in zip(events, envelopes, strict=True):
                    traceparent = tracing.header_value(event.headers, tracing.TRACEPARENT) or (
                        envelope.trace.traceparent
                    )
                    spans.enter_context(tracing.consuming(topic_name, traceparent, app.conf.id))
                writes = [write for envelope in envelopes for write in projector(envelope)]
                async for attempt in retrying_through_outages(outage=is_outage):
                    with attempt:
                        await apply(views, writes)
            for envelope in envelopes:
                EVENTS_CONSUMED.labels(f"projections:{label}", envelope.event_type, "applied").inc()

    app.agent(topic, name=f"project-{label}")(project)
