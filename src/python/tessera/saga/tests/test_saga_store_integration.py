"""The saga's state in Postgres keeps how a step failed, typed; a saga failed by the previous version (which wrote
no `failure`) reads it from the reason that version wrote, so its compensation stays right during an update."""

from __future__ import annotations

import uuid
from dataclasses import replace

import asyncpg
import pytest

from tessera.kit import db, outbox
from tessera.saga import migrations
from tessera.saga.adapters.postgres import PostgresSagaRepository
from tessera.saga.domain import Failure, Line, Saga, State, Step

pytestmark = pytest.mark.integration

SAGA = Saga("o-1", State.STOCK_RESERVED, (Line("p-1", 1),), 1500, "EUR", "pm-1")


async def test_a_failure_is_kept_typed_and_one_the_previous_version_wrote_is_read_from_its_reason(
    postgres_dsn: str,
) -> None:
    pool: asyncpg.Pool = await db.create_pool(postgres_dsn)
    try:
        await db.apply_migrations(pool, outbox.KIT_MIGRATIONS, migrations.__name__)
        repository = PostgresSagaRepository(pool)
        for order_id in ("o-typed", "o-previous"):
            assert await repository.start(replace(SAGA, order_id=order_id), str(uuid.uuid4()))

        claimed = await repository.claim("o-typed", "worker", 5)
        assert claimed is not None and (claimed.failed_step, claimed.failure) == (None, None)
        failed = replace(claimed, state=State.COMPENSATING, reason="authorize_payment timed out",
                         failed_step=Step.AUTHORIZE_PAYMENT, failure=Failure.TIMED_OUT)  # fmt: skip
        assert await repository.save(failed, "worker", 5)
        assert await repository.claim("o-typed", "worker", 5) == failed

        await pool.execute("""UPDATE sagas SET state = 'compensating', failed_step = 'authorize_payment',
                   reason = 'authorize_payment timed out' WHERE order_id = 'o-previous'""")
        previous = await repository.claim("o-previous", "worker", 5)
        assert previous is not None and previous.failure is Failure.TIMED_OUT and previous.payment_may_be_unseen
    finally:
        await pool.close()
