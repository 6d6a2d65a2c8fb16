"""Prints how long the platform takes to start: the three servers, then each service from process start to healthy.

./pants run src/python/tessera/tools:startup-benchmark -- --runs 5
./pants run src/python/tessera/tools:startup-benchmark -- --pex dist/src.python.tessera.catalog/catalog.pex
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tessera.localinfra import LocalInfra
from tessera.localinfra.process import free_port
from tessera.localstack.services import SERVICES, ServiceSpec
from tessera.localstack.stack import ensure_database, wait_healthy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--pex", type=Path, help="run the catalog from this PEX instead of this interpreter")
    args = parser.parse_args()
    asyncio.run(_benchmark(args.runs, args.pex))


async def _benchmark(runs: int, pex: Path | None) -> None:
    infra_times = []
    with tempfile.TemporaryDirectory(prefix="tessera-bench-") as tmp:
        infra = LocalInfra(Path(tmp) / "warmup")
        infra.start()
        infra.stop()
        for i in range(3):
            infra = LocalInfra(Path(tmp) / f"infra-{i}")
            began = time.monotonic()
            infra.start()
            infra_times.append(time.monotonic() - began)
            if i < 2:
                infra.stop()
        print(f"PostgreSQL + Redis + Kafka, fresh directories, to all answering: {_fmt(infra_times)}")
        print(f"  last run per server: { {k: round(v, 2) for k, v in infra.startup_seconds.items()} }")
        try:
            for spec in SERVICES:
                times = []
                for _ in range(runs):
                    times.append(await _service_start(spec, infra, pex))
                print(f"{spec.name}: process start -> gRPC health SERVING: {_fmt(times)}")
        finally:
            infra.stop()


async def _service_start(spec: ServiceSpec, infra: LocalInfra, pex: Path | None) -> float:
    endpoints = infra.endpoints
    port = free_port()
    env = {
        **os.environ,
        "TESSERA_GRPC_PORT": str(port),
        "TESSERA_POSTGRES_DSN": await ensure_database(endpoints.postgres_dsn, spec.name),
        "TESSERA_REDIS_URL": endpoints.redis_url,
        "TESSERA_KAFKA_BOOTSTRAP": endpoints.kafka_bootstrap,
        "PYTHONPATH": os.pathsep.join(sys.path),
    }
    command = [str(pex)] if pex else [sys.executable, "-m", spec.main_module.__name__]
    process = await asyncio.create_subprocess_exec(
        *command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        return await wait_healthy(spec, port, process, timeout=60)
    finally:
        process.terminate()
        await process.wait()


def _fmt(values: list[float]) -> str:
    return f"median {statistics.median(values):.2f} s (min {min(values):.2f}, max {max(values):.2f}, n={len(values)})"


if __name__ == "__main__":
    main()
