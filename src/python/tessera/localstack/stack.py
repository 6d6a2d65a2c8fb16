"""The local stack: the three servers, then every service, until stopped.

State lives in a directory (default ./.tessera): Postgres data, Kafka's log and the ports chosen on the first run
are reused, so a second run starts fast and finds its data again.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from pathlib import Path

from tessera.localinfra import LocalInfra
from tessera.localinfra.process import free_port
from tessera.localstack.platform import Platform
from tessera.localstack.services import SERVICES

INFRA_PORTS = ("postgres", "redis", "kafka", "kafka_controller")


def _load_ports(state_dir: Path) -> dict[str, int]:
    path = state_dir / "ports.json"
    ports: dict[str, int] = json.loads(path.read_text()) if path.exists() else {}
    kinds = {s.name: ("grpc", "metrics", "http") if s.http else ("grpc", "metrics") for s in SERVICES}
    for name in [*INFRA_PORTS, *(f"{s.name}_{kind}" for s in SERVICES for kind in kinds[s.name])]:
        ports.setdefault(name, free_port())
    path.write_text(json.dumps(ports, indent=2))
    return ports


async def run(state_dir: Path, stop: asyncio.Event) -> None:
    began = time.monotonic()
    state_dir.mkdir(parents=True, exist_ok=True)
    ports = _load_ports(state_dir)
    infra = LocalInfra(state_dir / "infra", ports=ports)
    await asyncio.to_thread(infra.start)
    platform = Platform(
        infra.endpoints, state_dir / "logs", ports={k: v for k, v in ports.items() if k not in INFRA_PORTS}
    )
    try:
        print(f"infrastructure up in {infra.startup_seconds['all']:.1f} s", flush=True)
        await platform.start_all()
        endpoints = infra.endpoints
        print(f"\nTessera is up ({time.monotonic() - began:.1f} s from command to all healthy):", flush=True)
        print(f"  postgres   {endpoints.postgres_dsn}")
        print(f"  redis      {endpoints.redis_url}")
        print(f"  kafka      {endpoints.kafka_bootstrap}")
        for spec in SERVICES:
            metrics = f"metrics http://127.0.0.1:{ports[f'{spec.name}_metrics']}/metrics"
            if spec.http:
                api = f"{platform.http_url(spec.name)}  (REST /v1, docs /docs, GraphQL /graphql)"
                print(f"  {spec.name:<11} {api}  {metrics}")
            else:
                print(f"  {spec.name:<11} grpc {platform.grpc_target(spec.name)}  {metrics}")
        print(f"  logs       {platform.log_dir}/\nPress Ctrl-C to stop.", flush=True)
        while not stop.is_set():
            if crashed := platform.exited():
                print(f"{', '.join(crashed)} exited; stopping", flush=True)
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=1.0)
    finally:
        print("stopping...", flush=True)
        await platform.stop_all()
        await asyncio.to_thread(infra.stop)
        print("stopped.", flush=True)
