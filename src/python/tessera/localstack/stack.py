"""Starts the infrastructure and every service as processes, waits until all are healthy, stops it all on exit.

State lives in a directory (default ./.tessera): Postgres data, Kafka's log and the ports chosen on the first run
are reused, so a second run starts fast and finds its data again.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import asyncpg
import grpc

from tessera.kit.grpc_client import check_health
from tessera.localinfra import InfraEndpoints, LocalInfra
from tessera.localinfra.process import free_port
from tessera.localstack.services import SERVICES, ServiceSpec


@dataclass
class RunningService:
    spec: ServiceSpec
    grpc_port: int
    metrics_port: int
    process: asyncio.subprocess.Process
    log: IO[bytes]


def _load_ports(state_dir: Path) -> dict[str, int]:
    path = state_dir / "ports.json"
    ports: dict[str, int] = json.loads(path.read_text()) if path.exists() else {}
    names = ["postgres", "redis", "kafka", "kafka_controller"]
    names += [f"{s.name}_{kind}" for s in SERVICES for kind in ("grpc", "metrics")]
    for name in names:
        ports.setdefault(name, free_port())
    path.write_text(json.dumps(ports, indent=2))
    return ports


async def ensure_database(admin_dsn: str, name: str) -> str:
    conn = await asyncpg.connect(admin_dsn)
    try:
        if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return f"{admin_dsn.rpartition('/')[0]}/{name}"


async def _start_service(
    spec: ServiceSpec, endpoints: InfraEndpoints, ports: dict[str, int], log_dir: Path
) -> RunningService:
    env = {
        **os.environ,
        "TESSERA_SERVICE_NAME": spec.name,
        "TESSERA_GRPC_PORT": str(ports[f"{spec.name}_grpc"]),
        "TESSERA_METRICS_PORT": str(ports[f"{spec.name}_metrics"]),
        "TESSERA_POSTGRES_DSN": await ensure_database(endpoints.postgres_dsn, spec.name),
        "TESSERA_REDIS_URL": endpoints.redis_url,
        "TESSERA_KAFKA_BOOTSTRAP": endpoints.kafka_bootstrap,
        "PYTHONPATH": os.pathsep.join(sys.path),
    }
    log = _open_log(log_dir / f"{spec.name}.log")
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", spec.main_module.__name__, env=env, stdout=log, stderr=subprocess.STDOUT
    )
    return RunningService(spec, ports[f"{spec.name}_grpc"], ports[f"{spec.name}_metrics"], process, log)


def _open_log(path: Path) -> IO[bytes]:
    return path.open("ab")


async def wait_healthy(spec: ServiceSpec, grpc_port: int, process: asyncio.subprocess.Process, timeout: float) -> float:
    """Seconds until the service's gRPC health check says SERVING; fails if the process exits first."""
    started = time.monotonic()
    async with grpc.aio.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
        while time.monotonic() - started < timeout:
            if process.returncode is not None:
                raise RuntimeError(f"{spec.name} exited with {process.returncode}; see its log")
            try:
                if await check_health(channel, spec.health_service, timeout=0.5) == "SERVING":
                    return time.monotonic() - started
            except grpc.aio.AioRpcError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError(f"{spec.name} was not healthy after {timeout:.0f} s")


async def _stop(service: RunningService) -> None:
    if service.process.returncode is None:
        service.process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(service.process.wait(), timeout=15)
        except TimeoutError:
            service.process.kill()
            await service.process.wait()
    service.log.close()


async def run(state_dir: Path, stop: asyncio.Event) -> None:
    began = time.monotonic()
    state_dir.mkdir(parents=True, exist_ok=True)
    log_dir = state_dir / "logs"
    log_dir.mkdir(exist_ok=True)
    ports = _load_ports(state_dir)
    infra = LocalInfra(state_dir / "infra", ports=ports)
    await asyncio.to_thread(infra.start)
    services: list[RunningService] = []
    try:
        endpoints = infra.endpoints
        print(f"infrastructure up in {infra.startup_seconds['all']:.1f} s", flush=True)
        services = [await _start_service(spec, endpoints, ports, log_dir) for spec in SERVICES]
        await asyncio.gather(*(wait_healthy(s.spec, s.grpc_port, s.process, timeout=120) for s in services))
        print(f"\nTessera is up ({time.monotonic() - began:.1f} s from command to all healthy):", flush=True)
        print(f"  postgres   {endpoints.postgres_dsn}")
        print(f"  redis      {endpoints.redis_url}")
        print(f"  kafka      {endpoints.kafka_bootstrap}")
        for s in services:
            print(
                f"  {s.spec.name:<10} grpc 127.0.0.1:{s.grpc_port}  metrics http://127.0.0.1:{s.metrics_port}/metrics"
            )
        print(f"  logs       {log_dir}/\nPress Ctrl-C to stop.", flush=True)
        while not stop.is_set():
            for s in services:
                if s.process.returncode is not None:
                    print(f"{s.spec.name} exited with {s.process.returncode}; stopping", flush=True)
                    stop.set()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=1.0)
    finally:
        print("stopping...", flush=True)
        for s in reversed(services):
            await _stop(s)
        await asyncio.to_thread(infra.stop)
        print("stopped.", flush=True)
