"""A saga resumed after its worker died continues its order's trace: the trace is kept with the saga in Postgres."""

from __future__ import annotations

import asyncio
import uuid
from contextlib import AsyncExitStack

import pytest
from opentelemetry import trace

from tessera.kit import db, outbox, tracing
from tessera.saga import migrations
from tessera.saga.adapters.postgres import PostgresSagaRepository
from tessera.saga.domain import Line, Saga, State
from tessera.saga.entrypoints.stream import SagaRunner

pytestmark = pytest.mark.integration

SAGA = Saga("o-resumed", State.STOCK_RESERVED, (Line("p-1", 1),), 1500, "EUR", "pm-1")


class RecordingDriver:
    """Stands in for the driver: records the trace each saga is driven in."""

    def __init__(self) -> None:
        self.traces: dict[str, str | None] = {}
        self.done = asyncio.Event()

    async def drive(self, order_id: str) -> State | None:
        ids = tracing.current_ids()
        self.traces[order_id] = ids[0] if ids else None
        self.done.set()
        return State.COMPLETED


async def test_a_resumed_saga_continues_the_trace_of_its_order(postgres_dsn: str) -> None:
    tracing.configure_tracing(
        tracing.service_tracer_provider("saga-test")
    )  # spans recorded in the process, exported nowhere
    async with AsyncExitStack() as stack:
        pool = await db.create_pool(postgres_dsn)
        stack.push_async_callback(pool.close)
        await db.apply_migrations(pool, outbox.KIT_MIGRATIONS, migrations.__name__)
        repository = PostgresSagaRepository(pool)
        with trace.get_tracer(__name__).start_as_current_span("order placed"):
            order_trace = tracing.current_ids()
            assert await repository.start(SAGA, str(uuid.uuid4()), tracing.current_traceparent())
        assert order_trace is not None

        # Its worker died before it claimed the saga: the saga is unfinished and free, and knows its trace.
        (orphan,) = await repository.unfinished_and_free(limit=10)
        assert orphan.order_id == SAGA.order_id and orphan.traceparent

        driver = RecordingDriver()
        runner = SagaRunner(driver, concurrency=1)  # type: ignore[arg-type]  # only `drive` is used
        runner.spawn(orphan.order_id, orphan.traceparent)  # outside any span, as the resume timer runs
        await asyncio.wait_for(driver.done.wait(), timeout=5)
        await runner.stop()
    assert driver.traces[SAGA.order_id] == order_trace[0]
