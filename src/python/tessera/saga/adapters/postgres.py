"""Saga state in Postgres, leased to one worker at a time."""

from __future__ import annotations

import json
from datetime import timedelta

import asyncpg

from tessera.kit import outbox
from tessera.saga.domain import TERMINAL, Failure, Line, Saga, State, Step
from tessera.saga.service_layer import Orphan

CONSUMER = "order-saga"
_COLUMNS = "order_id, state, lines, total_cents, currency, payment_method_id, payment_id, reason, failed_step, failure"
_UNFINISHED = "state NOT IN ({})".format(", ".join(f"'{s.value}'" for s in TERMINAL))


def _saga(row: asyncpg.Record) -> Saga:
    values = dict(row)
    values["state"] = State(values["state"])
    values["lines"] = tuple(Line(pid, qty) for pid, qty in json.loads(values["lines"]))
    values["failed_step"] = Step(values["failed_step"]) if values["failed_step"] else None
    values["failure"] = Failure(values["failure"]) if values["failure"] else _failure_written_before_it_was_typed(row)
    return Saga(**values)


def _failure_written_before_it_was_typed(row: asyncpg.Record) -> Failure | None:
    """A saga failed by a pod of the previous version during a rolling update (which writes no `failure`): its
    kind from the reason that version wrote. Drop with the release after the one adding the column."""
    if not row["failed_step"]:
        return None
    return Failure.TIMED_OUT if row["reason"].endswith(" timed out") else Failure.REFUSED


class PostgresSagaRepository:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def start(self, saga: Saga, event_id: str, traceparent: str = "") -> bool:
        async with self._pool.acquire() as conn, conn.transaction():
            if not await outbox.processed_event(conn, CONSUMER, event_id):
                return False  # a redelivered event
            status = await conn.execute(
                f"""INSERT INTO sagas ({_COLUMNS}, traceparent)
                    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
                    ON CONFLICT (order_id) DO NOTHING""",
                saga.order_id,
                saga.state.value,
                json.dumps([[line.product_id, line.quantity] for line in saga.lines]),
                saga.total_cents,
                saga.currency,
                saga.payment_method_id,
                saga.payment_id,
                saga.reason,
                saga.failed_step or "",
                saga.failure or "",
                traceparent,
            )
            return bool(status == "INSERT 0 1")

    async def claim(self, order_id: str, owner: str, lease_seconds: float) -> Saga | None:
        row = await self._pool.fetchrow(
            f"""UPDATE sagas SET lease_owner = $2, lease_until = now() + $3::interval
                WHERE order_id = $1 AND {_UNFINISHED}
                  AND (lease_until IS NULL OR lease_until < now() OR lease_owner = $2)
                RETURNING {_COLUMNS}""",
            order_id,
            owner,
            timedelta(seconds=lease_seconds),
        )
        return _saga(row) if row else None

    async def save(self, saga: Saga, owner: str, lease_seconds: float) -> bool:
        finished = saga.state in TERMINAL
        status = await self._pool.execute(
            """UPDATE sagas SET state = $3, payment_id = $4, reason = $5, failed_step = $6, failure = $7,
                   updated_at = now(),
                   lease_until = CASE WHEN $8 THEN NULL ELSE now() + $9::interval END,
                   lease_owner = CASE WHEN $8 THEN NULL ELSE lease_owner END,
                   finished_at = CASE WHEN $8 THEN now() ELSE NULL END
               WHERE order_id = $1 AND lease_owner = $2""",
            saga.order_id,
            owner,
            saga.state.value,
            saga.payment_id,
            saga.reason,
            saga.failed_step or "",
            saga.failure or "",
            finished,
            timedelta(seconds=lease_seconds),
        )
        return bool(status == "UPDATE 1")

    async def unfinished_and_free(self, limit: int) -> list[Orphan]:
        rows = await self._pool.fetch(
            f"""SELECT order_id, traceparent FROM sagas
                WHERE {_UNFINISHED} AND (lease_until IS NULL OR lease_until < now())
                ORDER BY started_at LIMIT $1""",
            limit,
        )
        return [Orphan(row["order_id"], row["traceparent"]) for row in rows]
