"""What a write and a read of the read models cost in the document store as the orders grow: the CPU of the store's
processes (FerretDB and its PostgreSQL, from /proc) per confirmation written and per page read, with and without the
GIN twins localinfra gives FerretDB's indexes (localinfra/mongo.py: FILTER_INDEX_SQL).

    ./pants run src/python/tessera/tools:readmodel-cost -- --sizes 1000,8000,32000

It starts its own PostgreSQL and FerretDB, fills the order summaries through the projection's own code
(projectors.apply, ReadModelGrpcApi): orders of many customers with a few each, and one heavy customer with a
share of all of them. At each size, in the same database, with the twins and then without: a confirmation (one
version-guarded update by `_id`), the newest page of a customer with a few orders, and of the heavy one. FerretDB
v1 pushes only equality filters down to PostgreSQL; it sorts a customer's orders in its own process after reading
them all, so a page costs that customer's whole history (a MongoDB serves it from the index on `customer_id,
placed_at, _id`).
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
from orders.v1 import events_pb2 as order_events
from orders.v1 import orders_pb2
from pymongo.asynchronous.database import AsyncDatabase
from readmodels.v1 import readmodels_pb2

from events.v1 import envelope_pb2
from tessera.kit.documents import Document, create_mongo
from tessera.kit.events import make_envelope
from tessera.localinfra.mongo import DATABASE, FerretDBServer
from tessera.localinfra.postgres import PostgresServer
from tessera.projections.entrypoints.grpc_api import ReadModelGrpcApi
from tessera.projections.projectors import apply as apply_writes
from tessera.projections.projectors import ensure_indexes, order_writes
from tessera.tools import processes

T0 = datetime(2026, 1, 1, tzinfo=UTC)
ORDERS_PER_CUSTOMER = 5  # the many customers' share each
HEAVY_SHARE = 0.1  # of all orders, the heavy customer's
REPEAT = 100  # operations measured of each kind, per size and variant (the heavy page: a fifth of that)
NO_CONTEXT: Any = None  # the servicer's methods, called directly: they use no context


def _event(order_id: str, version: int, payload: Any, at: datetime) -> envelope_pb2.EventEnvelope:
    return make_envelope(
        payload, aggregate_type="order", aggregate_id=order_id, aggregate_version=version, producer="orders",
        occurred_at=at,
    )  # fmt: skip


def placed(n: int, customer: str) -> envelope_pb2.EventEnvelope:
    order_id = f"o-{n:07d}"
    lines = [orders_pb2.OrderLine(product_id="p-1", quantity=1, unit_price_cents=500)]
    payload = order_events.OrderPlaced(
        order_id=order_id, customer_id=customer, lines=lines, total_cents=500, currency="EUR"
    )
    return _event(order_id, 1, payload, T0 + timedelta(seconds=n))


def confirmed(n: int) -> envelope_pb2.EventEnvelope:
    order_id = f"o-{n:07d}"
    payload = order_events.OrderConfirmed(order_id=order_id, payment_id=f"pay-{n}")
    return _event(order_id, 2, payload, T0 + timedelta(seconds=n, milliseconds=500))


def customer_of(n: int) -> str:
    """Every 1/HEAVY_SHARE-th order is the heavy customer's; the rest go ORDERS_PER_CUSTOMER to a customer."""
    return "heavy" if n % round(1 / HEAVY_SHARE) == 0 else f"c-{n // ORDERS_PER_CUSTOMER}"


class StoreCpu:
    def __init__(self, pids: dict[str, int]) -> None:
        self.pids = pids

    def seconds(self) -> float:
        return sum(processes.cpu_seconds(self.pids).values())

    async def per_call(self, call: Callable[[int], Awaitable[object]], repeat: int = REPEAT) -> float:
        """CPU-ms of the store per call, over `repeat` calls (the kernel counts CPU in 10 ms ticks)."""
        before = self.seconds()
        for i in range(repeat):
            await call(i)
        return (self.seconds() - before) * 1000 / repeat


async def fill(views: AsyncDatabase[Document], start: int, end: int) -> None:
    for first in range(start, end, 500):
        numbers = range(first, min(end, first + 500))
        await apply_writes(views, [w for n in numbers for w in order_writes(placed(n, customer_of(n)))])


async def measure(views: AsyncDatabase[Document], cpu: StoreCpu, size: int, skip: int) -> dict[str, float]:
    """The three operations' CPU; the confirmations are of orders `skip` and more from the newest, none twice."""
    api = ReadModelGrpcApi(views)
    light = customer_of(size - 1) if customer_of(size - 1) != "heavy" else customer_of(size - 2)

    async def confirm(i: int) -> None:
        n = size - 1 - skip - i
        await apply_writes(views, order_writes(confirmed(n)))

    def page(customer: str) -> Callable[[int], Awaitable[object]]:
        request = readmodels_pb2.ListCustomerOrdersRequest(customer_id=customer, page_size=20)
        return lambda _: api.ListCustomerOrders(request, NO_CONTEXT)

    return {
        "confirm": await cpu.per_call(confirm),
        "page_light": await cpu.per_call(page(light)),
        "page_heavy": await cpu.per_call(page("heavy"), REPEAT // 5),
    }


async def twins(backend: asyncpg.Connection, schema: str, present: bool) -> None:
    """Drops the GIN twins of the views' indexes, or makes them again (FILTER_INDEX_SQL's function)."""
    indexes = await backend.fetch(
        "SELECT i.indexrelid::regclass AS index, am.amname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid"
        " JOIN pg_am am ON am.oid = c.relam JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1",
        schema,
    )
    for row in indexes:
        if present and row["amname"] == "btree":
            await backend.execute("SELECT tessera_serve_ferretdb_filter($1::regclass)", str(row["index"]))
        elif not present and row["amname"] == "gin":
            await backend.execute(f"DROP INDEX {row['index']}")
    await backend.execute("ANALYZE")


async def run(sizes: list[int]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="tessera-readmodel-cost-") as tmp:
        postgres = PostgresServer(Path(tmp) / "postgres")
        await asyncio.to_thread(postgres.start)
        mongo = FerretDBServer(Path(tmp) / "ferretdb", postgres_dsn=postgres.dsn())
        try:
            await asyncio.to_thread(mongo.start)
            cpu = StoreCpu({"postgres": postgres.pid or 0, "ferretdb": mongo.pid or 0})
            client = create_mongo(mongo.url, app_name="readmodel-cost")
            schema = f"cost_{uuid.uuid4().hex[:8]}"
            views = client[schema]
            await ensure_indexes(views)
            backend = await asyncpg.connect(postgres.dsn(DATABASE))
            filled = 0
            try:
                for size in sizes:
                    print(f"filling to {size} orders ...", flush=True)
                    await fill(views, filled, size)
                    filled = size
                    for variant, present in enumerate((True, False)):
                        await twins(backend, schema, present)
                        began = time.monotonic()
                        figures = await measure(views, cpu, size, skip=variant * REPEAT)
                        rows.append({"orders": size, "gin_twins": present, **figures})
                        print(f"  {rows[-1]} ({time.monotonic() - began:.1f} s)", flush=True)
                    await twins(backend, schema, True)
            finally:
                await backend.close()
                await client.close()
        finally:
            mongo.stop()
            postgres.stop(fast=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1000,8000,32000", help="comma-separated order counts to measure at")
    sizes = sorted(int(size) for size in parser.parse_args().sizes.split(","))
    rows = asyncio.run(run(sizes))
    heavy = {size: round(size * HEAVY_SHARE) for size in sizes}
    print("\nCPU-ms of FerretDB + PostgreSQL per operation (orders: in the collection; heavy: that customer's):")
    print(f"{'orders':>7} {'heavy':>6} {'GIN twins':>9} {'confirm':>8} {'page, 5 orders':>15} {'page, heavy':>12}")
    for row in rows:
        print(
            f"{row['orders']:>7} {heavy[row['orders']]:>6} {'yes' if row['gin_twins'] else 'no':>9}"
            f" {row['confirm']:>8.2f} {row['page_light']:>15.2f} {row['page_heavy']:>12.2f}"
        )


if __name__ == "__main__":
    main()
