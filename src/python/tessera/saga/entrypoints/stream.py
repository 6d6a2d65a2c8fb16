"""The faust processor: starts a saga for every OrderPlaced, and resumes sagas whose worker died.

The agent only records the saga (durably, deduplicated by event id) and hands it to the runner, so the Kafka
offset moves on at once; the saga's own state and lease make it survive a crash of this worker.
"""

from __future__ import annotations

import asyncio
import contextlib

import faust
from orders.v1 import events_pb2

from tessera.kit import tracing
from tessera.kit.config import KafkaSettings
from tessera.kit.db import OUTAGE_ERRORS, retrying_through_outages
from tessera.kit.events import parse, unpack
from tessera.kit.logs import get_logger
from tessera.kit.streams import create_faust_app, traceparent_of
from tessera.saga.adapters.postgres import PostgresSagaRepository
from tessera.saga.domain import Line, Saga, State
from tessera.saga.service_layer import SagaDriver

log = get_logger(__name__)


class SagaRunner:
    """Drives sagas as background tasks, at most `concurrency` at once, never the same one twice at once."""

    def __init__(self, driver: SagaDriver, concurrency: int) -> None:
        self._driver = driver
        self._slots = asyncio.Semaphore(concurrency)
        self._running: dict[str, asyncio.Task[None]] = {}

    def spawn(self, order_id: str, traceparent: str | None = None) -> None:
        """Drives the saga unless it runs already. Its calls join the current trace, or `traceparent`'s (a saga
        resumed from the database continues the trace of its order, as if it had never been interrupted)."""
        if order_id in self._running:
            return
        with contextlib.ExitStack() as trace_scope:
            if traceparent is not None:
                resumed = trace_scope.enter_context(tracing.continued(traceparent, "saga resumed"))
                resumed.set_attribute("order.id", order_id)
            # The task takes the current span with it: its calls join that trace.
            self._running[order_id] = asyncio.create_task(self._drive(order_id), name=f"saga-{order_id}")

    async def _drive(self, order_id: str) -> None:
        try:
            async with self._slots:
                await self._driver.drive(order_id)
        except Exception:
            log.exception("saga driver failed; it resumes when its lease expires", order_id=order_id)
        finally:
            self._running.pop(order_id, None)

    async def stop(self) -> None:
        """Cancels what runs: each saga's state is saved, and it resumes in the next worker."""
        tasks = list(self._running.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def saga_from(placed: events_pb2.OrderPlaced) -> Saga:
    return Saga(
        order_id=placed.order_id,
        state=State.STARTED,
        lines=tuple(Line(line.product_id, line.quantity) for line in placed.lines),
        total_cents=placed.total_cents,
        currency=placed.currency,
        payment_method_id=placed.payment_method_id,
    )


def build_saga_app(
    kafka: KafkaSettings,
    orders_topic: str,
    repository: PostgresSagaRepository,
    runner: SagaRunner,
    *,
    resume_every: float,
) -> faust.App:
    """The saga's stream processor: a saga for each order placed on `orders_topic` (its deployed name)."""
    app = create_faust_app("order-saga", kafka)
    orders = app.topic(orders_topic, value_type=bytes, value_serializer="raw")

    @app.agent(orders)
    async def start_sagas(stream: faust.StreamT[bytes]) -> None:
        async for raw in stream:
            envelope = parse(raw)
            if not envelope.payload.Is(events_pb2.OrderPlaced.DESCRIPTOR):
                continue  # the saga reacts to placements; the other order events are its own doing
            placed = unpack(envelope, events_pb2.OrderPlaced)
            # The saga's task starts inside the consumer span, so its calls to the participants join the order's trace.
            with tracing.consuming(orders.get_topic_name(), traceparent_of(stream, envelope), app.conf.id):
                async for attempt in retrying_through_outages():
                    with attempt:
                        started = await repository.start(
                            saga_from(placed), envelope.event_id, tracing.current_traceparent()
                        )
                if started:
                    runner.spawn(placed.order_id)

    @app.timer(interval=resume_every)
    async def resume_orphans() -> None:
        try:
            orphans = await repository.unfinished_and_free(limit=100)
        except OUTAGE_ERRORS as exc:
            log.warning("cannot look for sagas to resume; next round", error=str(exc))
            return
        except Exception:
            # A periodic sweep: an error in one round must not crash the processor (faust crashes the whole app on
            # a timer's exception); the next round looks again.
            log.exception("looking for sagas to resume failed; next round")
            return
        for orphan in orphans:
            runner.spawn(orphan.order_id, orphan.traceparent)

    return app
