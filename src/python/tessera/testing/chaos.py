"""Order load and bookkeeping for chaos tests: what was sent, what the platform made of it, and whether any effect
was applied twice.

The load is an impatient but honest client: each order has its own idempotency key, and a POST that fails on the
way (connection refused, 5xx, timeout) is retried with the same key for a while, as a real client would. So an
order is "lost" only if the platform said 202 Accepted and then never finished it (or forgot it).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import statistics
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import httpx

from tessera.testing.figures import record

FINAL = {"CONFIRMED", "REJECTED", "CANCELLED"}


@dataclass
class Attempt:
    sent_at: float  # monotonic
    seconds: float
    status: int  # 0 when no HTTP answer came back
    detail: str = ""  # a failed answer's problem detail (or the client's error): which hop failed, and how


@dataclass
class OrderLoad:
    """Places one order every 1/rate seconds through the gateway until stopped; every tenth has a declined card."""

    gateway_url: str
    product_id: str
    rate: float = 4.0
    patience_seconds: float = 30.0
    decline_every: int = 10
    headers: Mapping[str, str] = field(default_factory=dict)  # the caller's bearer token
    keys: list[str] = field(default_factory=list)
    accepted: dict[str, str] = field(default_factory=dict)  # idempotency key -> order id
    attempts: list[Attempt] = field(default_factory=list)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)
    _scheduler: asyncio.Task[None] | None = None

    async def __aenter__(self) -> OrderLoad:
        self._client = httpx.AsyncClient(base_url=self.gateway_url, timeout=5.0, headers=dict(self.headers))
        self._scheduler = asyncio.create_task(self._schedule())
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.stop()

    async def stop(self) -> None:
        """Stops sending new orders and lets the ones in flight finish their retries."""
        if self._scheduler is not None:
            self._scheduler.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._scheduler
            self._scheduler = None
            await asyncio.gather(*self._tasks)
            await self._client.aclose()

    async def _schedule(self) -> None:
        started = time.monotonic()
        n = 0
        while True:
            n += 1
            task = asyncio.create_task(self._place(n))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            await asyncio.sleep(max(0.0, started + n / self.rate - time.monotonic()))

    async def _place(self, n: int) -> None:
        key = f"chaos-{uuid.uuid4()}"
        self.keys.append(key)
        card = "tok_decline" if n % self.decline_every == 0 else "tok_visa"
        body = {"items": [{"product_id": self.product_id, "quantity": 1}], "card_token": card}
        give_up = time.monotonic() + self.patience_seconds
        while time.monotonic() < give_up:
            sent = time.monotonic()
            detail = ""
            try:
                response = await self._client.post("/v1/orders", json=body, headers={"Idempotency-Key": key})
                status = response.status_code
                if status >= 500:
                    detail = response.text[:300]
            except httpx.HTTPError as exc:
                status, detail = 0, repr(exc)
            self.attempts.append(Attempt(sent, time.monotonic() - sent, status, detail))
            if status == 202:
                self.accepted[key] = response.json()["order_id"]
                return
            if 400 <= status < 500 and status not in (408, 429):
                return  # refused for good: not an outage
            await asyncio.sleep(0.3)

    def latencies(self, since: float, until: float) -> list[float]:
        return [a.seconds for a in self.attempts if since <= a.sent_at < until]


@dataclass
class Outcome:
    sent: int
    accepted: int
    confirmed: int
    compensated: int
    lost: int
    never_accepted: int
    settle_seconds: float  # from the end of the load until every accepted order was final
    figures: dict[str, Any] = field(default_factory=dict)


async def settle(load: OrderLoad, orders_dsn: str, *, timeout: float = 90.0) -> Outcome:
    """Waits until every order the platform holds for the load's keys is final (or `timeout`), and counts.

    Orders are found by idempotency key in the orders database, so an order created by a request whose answer was
    lost still counts as accepted (the client would get it on a retry).
    """
    started = time.monotonic()
    conn = await asyncpg.connect(orders_dsn)
    try:
        while True:
            rows = await conn.fetch(
                "SELECT k.idempotency_key, k.order_id, o.status FROM order_idempotency_keys k "
                "LEFT JOIN LATERAL (SELECT e.event_type AS status FROM event_store e WHERE e.stream_id = k.order_id "
                "ORDER BY e.version DESC LIMIT 1) o ON true WHERE k.idempotency_key = ANY($1::text[])",
                load.keys,
            )
            statuses = {row["idempotency_key"]: _status_of(row["status"]) for row in rows}
            pending = [k for k, s in statuses.items() if s not in FINAL]
            if not pending or time.monotonic() - started > timeout:
                break
            await asyncio.sleep(0.5)
    finally:
        await conn.close()
    lost = [k for k in load.accepted if statuses.get(k) not in FINAL]
    return Outcome(
        sent=len(load.keys),
        accepted=len(statuses),
        confirmed=sum(1 for s in statuses.values() if s == "CONFIRMED"),
        compensated=sum(1 for s in statuses.values() if s in ("REJECTED", "CANCELLED")),
        lost=len(lost) + sum(1 for k in statuses if statuses[k] not in FINAL and k not in load.accepted),
        never_accepted=len(load.keys) - len(statuses),
        settle_seconds=round(time.monotonic() - started, 2),
    )


def _status_of(event_type: str | None) -> str:
    """The order's status from the type of its latest event (orders.v1.OrderConfirmed -> CONFIRMED)."""
    if not event_type:
        return "MISSING"
    name = event_type.rsplit(".", 1)[-1].removeprefix("Order").upper()
    return {"PLACED": "PENDING"}.get(name, name)


async def effects_applied_once(inventory_dsn: str, payments_dsn: str, product_id: str, initial_stock: int) -> None:
    """Stock and money agree with the orders: each confirmed order took one unit and one capture, no more."""
    inventory = await asyncpg.connect(inventory_dsn)
    payments = await asyncpg.connect(payments_dsn)
    try:
        stock = await inventory.fetchrow("SELECT on_hand, reserved FROM stock WHERE product_id = $1", product_id)
        # The orders of this product (the load's and any probes'): lines are [[product id, quantity], ...].
        orders = await inventory.fetch(
            "SELECT order_id, status FROM reservations WHERE lines @> $1::jsonb", json.dumps([[product_id, 1]])
        )
        committed = sum(1 for row in orders if row["status"] == "committed")
        captures = await payments.fetch(
            "SELECT order_id, count(*) AS n FROM payments WHERE status = 'captured' AND order_id = ANY($1::text[]) "
            "GROUP BY order_id",
            [row["order_id"] for row in orders],
        )
    finally:
        await inventory.close()
        await payments.close()
    assert stock is not None
    assert stock["reserved"] == 0, f"{stock['reserved']} units still reserved after every saga ended"
    assert initial_stock - stock["on_hand"] == committed, "stock taken does not match the committed reservations"
    assert all(row["n"] == 1 for row in captures), "an order was charged twice"
    assert len(captures) == committed, f"{len(captures)} orders charged but {committed} reservations committed"


def percentile(values: list[float], p: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


def summary_ms(values: list[float]) -> dict[str, float]:
    return {
        "n": len(values),
        "p50_ms": round(percentile(values, 50) * 1000, 1),
        "p99_ms": round(percentile(values, 99) * 1000, 1),
        "mean_ms": round(statistics.fmean(values) * 1000, 1) if values else 0.0,
    }


def report(name: str, figures: dict[str, Any]) -> None:
    """Prints a chaos test's figures and keeps them with CI's (see `figures.record`)."""
    record("chaos", {"test": name, **figures})
