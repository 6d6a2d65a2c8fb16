"""A fixed-rate load on the whole platform through the gateway's REST API; prints latency and throughput.

    ./pants run src/python/tessera/tools:load -- --duration 30 --order-rate 10 --read-rate 50

It starts its own PostgreSQL, Redis, Kafka and every service (as the local stack does), seeds products, then
sends an open-loop load: requests leave on schedule whatever the answers take, so slow answers show up as
latency instead of silently lowering the rate. Reads are GET /v1/products/{id}; an order's latency runs from
POST /v1/orders to the moment its OrderConfirmed event is seen on Kafka.

Hand-written rather than Locust: the measure that matters here, placement -> confirmation, spans an
asynchronous saga, which Locust's request-response timing cannot see.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer
from orders.v1 import events_pb2 as order_events

from events.v1 import envelope_pb2
from tessera.kit.events import parse, unpack
from tessera.localinfra import LocalInfra
from tessera.localstack.platform import Platform
from tessera.tools.seed import seed_products
from tessera.topology import topic_of


@dataclass
class Results:
    reads: list[float] = field(default_factory=list)
    read_errors: int = 0
    placements: list[float] = field(default_factory=list)
    confirmations: list[float] = field(default_factory=list)
    rejected: int = 0
    order_errors: int = 0


def _pct(values: list[float], p: float) -> str:
    if not values:
        return "-"
    ordered = sorted(values)
    return f"{ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] * 1000:.1f} ms"


async def _read(api: httpx.AsyncClient, product_id: str, results: Results) -> None:
    started = time.perf_counter()
    try:
        response = await api.get(f"/v1/products/{product_id}")
        response.raise_for_status()
        results.reads.append(time.perf_counter() - started)
    except httpx.HTTPError:
        results.read_errors += 1


class Outcomes:
    """Watches the orders topic and resolves each order's future when its OrderConfirmed/Rejected arrives.

    Waiting on the event rather than polling the API keeps the measurement from loading the system it measures.
    """

    def __init__(self, bootstrap: str) -> None:
        # No group and no commits: the observer must not add work to the broker it measures.
        self._consumer = AIOKafkaConsumer(
            topic_of("orders"),
            bootstrap_servers=bootstrap,
            group_id=None,
            client_id="load",
            auto_offset_reset="latest",
            fetch_max_wait_ms=5000,  # a long poll: events still come at once, and an idle broker is asked less
        )
        self._waiting: dict[str, asyncio.Future[str]] = {}
        self._early: dict[str, str] = {}
        self.confirmed_at: dict[str, float] = {}  # order id -> when its OrderConfirmed arrived (monotonic)
        self.customer_of: dict[str, str] = {}  # order id -> its customer, from its OrderPlaced
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self._consumer.start()
        self._task = asyncio.create_task(self._watch())

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self._consumer.stop()

    async def _watch(self) -> None:
        async for record in self._consumer:
            await self._on_event(parse(record.value))

    async def _on_event(self, envelope: envelope_pb2.EventEnvelope) -> None:
        if envelope.event_type == order_events.OrderPlaced.DESCRIPTOR.full_name:
            self.customer_of[envelope.aggregate_id] = unpack(envelope, order_events.OrderPlaced).customer_id
            return
        outcome = _OUTCOMES.get(envelope.event_type)
        if outcome is None:
            return
        if outcome == "confirmed":
            self.confirmed_at[envelope.aggregate_id] = time.monotonic()
        future = self._waiting.pop(envelope.aggregate_id, None)
        if future is None:
            self._early[envelope.aggregate_id] = outcome
        elif not future.done():
            future.set_result(outcome)

    def outcome_of(self, order_id: str) -> asyncio.Future[str]:
        future: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        if order_id in self._early:
            future.set_result(self._early.pop(order_id))
        else:
            self._waiting[order_id] = future
        return future


_OUTCOMES = {"orders.v1.OrderConfirmed": "confirmed", "orders.v1.OrderRejected": "rejected"}


# The gateway's rate limit, counted as in production (a Redis round trip a request) but never reached: the load
# comes from one caller, far above what one customer may send.
COUNTED_NOT_LIMITED = {"TESSERA_RATE_LIMIT": "1000000/second"}


async def place_order(
    api: httpx.AsyncClient,
    product_id: str,
    results: Results,
    outcomes: Outcomes,
    give_up_after: float,
    customer: dict[str, str] | None = None,
) -> None:
    """Places an order (for `customer`: its auth headers, else the client's) and waits for its outcome."""
    started = time.perf_counter()
    body = {"items": [{"product_id": product_id, "quantity": 1}], "card_token": "tok_visa"}
    headers = {"Idempotency-Key": str(uuid.uuid4()), **(customer or {})}
    try:
        placed = await api.post("/v1/orders", json=body, headers=headers)
        placed.raise_for_status()
        results.placements.append(time.perf_counter() - started)
        outcome = await asyncio.wait_for(outcomes.outcome_of(placed.json()["order_id"]), give_up_after)
    except (httpx.HTTPError, KeyError, TimeoutError):
        results.order_errors += 1
        return
    if outcome == "confirmed":
        results.confirmations.append(time.perf_counter() - started)
    else:
        results.rejected += 1


async def schedule(
    rate: float, duration: float, make: Callable[[], Coroutine[Any, Any, None]]
) -> list[asyncio.Task[None]]:
    """Starts make() `rate` times a second for `duration` seconds, on schedule."""
    tasks: list[asyncio.Task[None]] = []
    began = time.perf_counter()
    for i in range(int(rate * duration)):
        delay = began + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(make()))
    return tasks


async def run_load(duration: float, order_rate: float, read_rate: float, products: int) -> None:
    with tempfile.TemporaryDirectory(prefix="tessera-load-") as tmp:
        infra = LocalInfra(Path(tmp) / "infra")
        await asyncio.to_thread(infra.start)
        platform = Platform(infra.endpoints, Path(tmp) / "logs", extra_env=COUNTED_NOT_LIMITED)
        try:
            await platform.start_all()
            ids = await seed_products(
                platform.grpc_address("catalog"), platform.grpc_address("inventory"), products, 1_000_000
            )
            results = Results()
            outcomes = Outcomes(infra.endpoints.kafka_bootstrap)
            await outcomes.start()
            limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
            async with platform.api("load", timeout=10, limits=limits) as api:
                for product_id in ids:  # warm the cache and the connection pool
                    await _read(api, product_id, Results())
                print(f"load: {order_rate:g} orders/s and {read_rate:g} reads/s for {duration:g} s ...", flush=True)
                began = time.perf_counter()
                order_tasks, read_tasks = await asyncio.gather(
                    schedule(
                        order_rate, duration, lambda: place_order(api, random.choice(ids), results, outcomes, 60.0)
                    ),
                    schedule(read_rate, duration, lambda: _read(api, random.choice(ids), results)),
                )
                await asyncio.gather(*order_tasks, *read_tasks)
                elapsed = time.perf_counter() - began
            await outcomes.stop()
        finally:
            await platform.stop_all()
            await asyncio.to_thread(infra.stop)
    print(f"\nsent for {duration:g} s, all answered after {elapsed:.1f} s")
    print(f"reads        n={len(results.reads)} errors={results.read_errors}  "
          f"p50 {_pct(results.reads, 50)}  p99 {_pct(results.reads, 99)}  "
          f"throughput {len(results.reads) / duration:.1f}/s")  # fmt: skip
    print(f"placement    n={len(results.placements)}  p50 {_pct(results.placements, 50)}  "
          f"p99 {_pct(results.placements, 99)}")  # fmt: skip
    print(f"placed -> confirmed  n={len(results.confirmations)} rejected={results.rejected} "
          f"errors={results.order_errors}  p50 {_pct(results.confirmations, 50)}  "
          f"p99 {_pct(results.confirmations, 99)}  "
          f"throughput {len(results.confirmations) / duration:.1f} orders/s")  # fmt: skip
    if results.confirmations:
        print(f"mean confirmation {statistics.mean(results.confirmations) * 1000:.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=30)
    parser.add_argument("--order-rate", type=float, default=10, help="orders per second")
    parser.add_argument("--read-rate", type=float, default=50, help="product reads per second")
    parser.add_argument("--products", type=int, default=20)
    args = parser.parse_args()
    asyncio.run(run_load(args.duration, args.order_rate, args.read_rate, args.products))


if __name__ == "__main__":
    main()
