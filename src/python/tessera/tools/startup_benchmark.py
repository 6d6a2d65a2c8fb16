"""Prints how long the platform takes to start: the three servers, each service from process start to healthy,
and all services together.

    ./pants run src/python/tessera/tools:startup-benchmark -- --runs 5
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from tessera.localinfra import LocalInfra
from tessera.localstack.platform import Platform
from tessera.topology import registry


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    asyncio.run(_benchmark(args.runs))


async def _benchmark(runs: int) -> None:
    with tempfile.TemporaryDirectory(prefix="tessera-bench-") as tmp:
        infra_times = []
        for i in range(runs):
            infra = LocalInfra(Path(tmp) / f"infra-{i}")
            began = time.monotonic()
            await asyncio.to_thread(infra.start)
            infra_times.append(time.monotonic() - began)
            if i < runs - 1:
                await asyncio.to_thread(infra.stop)
        print(f"PostgreSQL + Redis + Kafka, fresh directories, to all answering: {_fmt(infra_times)}")
        print(f"  last run, per server: { {k: round(v, 2) for k, v in infra.startup_seconds.items()} }")
        platform = Platform(infra.endpoints, Path(tmp) / "logs")
        try:
            for spec in registry().services:
                times = [await platform.restart(spec.name) for _ in range(runs)]
                print(f"{spec.name}: process start -> ready (gRPC health SERVING, or /readyz 200): {_fmt(times)}")
            together = []
            for _ in range(runs):
                await platform.stop_all()
                began = time.monotonic()
                await platform.start_all()
                together.append(time.monotonic() - began)
            print(f"all {len(registry().services)} services together, start -> all healthy: {_fmt(together)}")
        finally:
            await platform.stop_all()
            await asyncio.to_thread(infra.stop)


def _fmt(values: list[float]) -> str:
    return f"median {statistics.median(values):.2f} s (min {min(values):.2f}, max {max(values):.2f}, n={len(values)})"


if __name__ == "__main__":
    main()
