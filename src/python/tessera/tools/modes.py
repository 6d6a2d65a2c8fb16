"""Memory and start-up of the two ways the local stack runs the services: a process each, or all in one process.

    ./pants run src/python/tessera/tools:modes -- --rounds 3 --orders 40

It starts one PostgreSQL, Redis and Kafka, then runs the platform in each mode in turn, round after round (so the
machine's noise falls on both alike), each run on databases and topics of its own. For each: seconds from launch to
every service healthy; the CPU seconds the services spent getting there (from /proc); their memory once healthy, and
again after `--orders` orders went through the gateway to confirmed. Memory is PSS (each shared page divided among
the processes sharing it, so the processes' sum is what they hold together) and RSS summed over the processes.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import httpx

from tessera.localinfra import LocalInfra
from tessera.localstack.platform import Platform
from tessera.tools.load import COUNTED_NOT_LIMITED
from tessera.tools.processes import cpu_seconds, pss_bytes, rss_bytes
from tessera.tools.seed import seed_products

MODES = {"processes": False, "one-process": True}
MIB = 1024 * 1024


@dataclass
class Run:
    start_seconds: float
    start_cpu_seconds: float
    pss_started: float
    rss_started: float
    pss_after_orders: float
    rss_after_orders: float


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--orders", type=int, default=40)
    args = parser.parse_args()
    asyncio.run(_benchmark(args.rounds, args.orders))


async def _benchmark(rounds: int, orders: int) -> None:
    runs: dict[str, list[Run]] = {mode: [] for mode in MODES}
    with tempfile.TemporaryDirectory(prefix="tessera-modes-") as tmp:
        infra = LocalInfra(Path(tmp) / "infra")
        await asyncio.to_thread(infra.start)
        try:
            for round_number in range(rounds):
                for mode, one_process in MODES.items():
                    run = await _run(infra, Path(tmp) / f"{mode}-{round_number}", one_process, orders)
                    runs[mode].append(run)
                    print(f"round {round_number + 1} {mode}: {_row(run)}", flush=True)
        finally:
            await asyncio.to_thread(infra.stop)
    print(f"\nmedians over {rounds} rounds, {orders} orders each:")
    for mode, of_mode in runs.items():
        medians = Run(*(statistics.median(getattr(run, name) for run in of_mode) for name in Run.__dataclass_fields__))
        print(f"  {mode:<12} {_row(medians)}")


async def _run(infra: LocalInfra, directory: Path, one_process: bool, orders: int) -> Run:
    prefix = f"m{uuid.uuid4().hex[:8]}_"
    platform = Platform(
        infra.endpoints,
        directory,
        database_prefix=prefix,
        topic_prefix=f"{prefix}.",
        extra_env=COUNTED_NOT_LIMITED,
        one_process=one_process,
    )
    try:
        began = time.monotonic()
        await platform.start_all()
        start_seconds = time.monotonic() - began
        pids = {str(pid): pid for pid in {running.process.pid for running in platform.running.values()}}
        start_cpu = sum(cpu_seconds(pids).values())
        pss_started, rss_started = sum(pss_bytes(pids).values()), sum(rss_bytes(pids).values())
        products = await seed_products(platform.grpc_address("catalog"), platform.grpc_address("inventory"), 5, 10**6)
        async with platform.api("modes", timeout=30) as api:
            slots = asyncio.Semaphore(8)

            async def one_order() -> None:
                async with slots:
                    await _order_confirmed(api, random.choice(products))

            await asyncio.gather(*(one_order() for _ in range(orders)))
        return Run(
            start_seconds,
            start_cpu,
            pss_started / MIB,
            rss_started / MIB,
            sum(pss_bytes(pids).values()) / MIB,
            sum(rss_bytes(pids).values()) / MIB,
        )
    finally:
        await platform.stop_all()


async def _order_confirmed(api: httpx.AsyncClient, product_id: str) -> None:
    body = {"items": [{"product_id": product_id, "quantity": 1}], "card_token": "tok_visa"}
    placed = await api.post("/v1/orders", json=body, headers={"Idempotency-Key": str(uuid.uuid4())})
    placed.raise_for_status()
    url = f"/v1/orders/{placed.json()['order_id']}"
    async with asyncio.timeout(60):
        while (status := (await api.get(url)).json()["status"]) == "pending":
            await asyncio.sleep(0.1)
    if status != "confirmed":
        raise RuntimeError(f"order {url} ended {status}")


def _row(run: Run) -> str:
    return (
        f"start -> all healthy {run.start_seconds:5.2f} s, {run.start_cpu_seconds:5.2f} CPU-s;"
        f" started: PSS {run.pss_started:4.0f} MiB, RSS {run.rss_started:4.0f} MiB;"
        f" after the orders: PSS {run.pss_after_orders:4.0f} MiB, RSS {run.rss_after_orders:4.0f} MiB"
    )


if __name__ == "__main__":
    main()
