"""Every service as its own process against given PostgreSQL/Redis/Kafka endpoints: start, stop, kill, restart.
Or, with `one_process`, every service in one process (`one_process.py`), configured the same way.

Used by the local stack (`stack.py`) and by end-to-end and chaos tests, which give each run its own database
prefix and Kafka topic prefix so several platforms can share one set of servers.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import grpc
import httpx

from tessera.environments import Endpoints, environment
from tessera.kit.db import ensure_database
from tessera.kit.grpc_client import check_health
from tessera.localinfra import InfraEndpoints
from tessera.localinfra.issuer import DevIssuer, JwksServer
from tessera.localinfra.process import free_port
from tessera.topology import Service, registry


def _tail(log: Path, lines: int = 20) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])


async def wait_healthy(
    spec: Service, port: int, process: asyncio.subprocess.Process, timeout: float, log: Path
) -> float:
    """Seconds until the service is ready (gRPC health SERVING, or HTTP /readyz 200); fails if it exits first."""
    started = time.monotonic()
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel, httpx.AsyncClient(timeout=1.0) as http:
        while time.monotonic() - started < timeout:
            if process.returncode is not None:
                raise RuntimeError(f"{spec.name} exited with {process.returncode}; the end of {log}:\n{_tail(log)}")
            try:
                if spec.http:
                    if (await http.get(f"http://127.0.0.1:{port}/readyz")).status_code == 200:
                        return time.monotonic() - started
                elif await check_health(channel, spec.grpc_api, timeout=0.5) == "SERVING":
                    return time.monotonic() - started
            except (grpc.aio.AioRpcError, httpx.HTTPError):
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError(f"{spec.name} was not ready after {timeout:.0f} s")


def _open_log(path: Path) -> IO[bytes]:
    return path.open("ab")


def _service_variables(env: Mapping[str, str]) -> dict[str, str]:
    """A service's own variables: what its settings read (the rest of a process's environment is shared)."""
    return {key: value for key, value in env.items() if key.startswith("TESSERA_")}


@dataclass
class RunningService:
    spec: Service
    process: asyncio.subprocess.Process
    log: IO[bytes]


@dataclass
class Platform:
    infra: InfraEndpoints
    log_dir: Path
    ports: dict[str, int] = field(default_factory=dict)  # "<service>_grpc" / "<service>_metrics"
    database_prefix: str = ""
    topic_prefix: str = ""
    extra_env: Mapping[str, str] = field(default_factory=dict)  # e.g. shorter saga timeouts in tests
    running: dict[str, RunningService] = field(default_factory=dict)
    # The development token issuer's key (default: under log_dir); the HTTP services verify its tokens.
    issuer_dir: Path | None = None
    # Every service in one process (its log: log_dir/platform.log). Then they start, stop and crash together; a
    # test that stops, kills or pauses one service alone needs the default mode, a process each.
    one_process: bool = False
    _jwks: JwksServer | None = None
    _together: list[str] = field(default_factory=list)  # the services of the one process

    def __post_init__(self) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.issuer = DevIssuer(self.issuer_dir or self.log_dir / "issuer")
        for spec in registry().services:
            for kind in ("grpc", "metrics", "http") if spec.http else ("grpc", "metrics"):
                self.ports.setdefault(f"{spec.name}_{kind}", free_port())

    def grpc_address(self, name: str) -> str:
        return f"127.0.0.1:{self.ports[f'{name}_grpc']}"

    def http_url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[f'{name}_http']}"

    def auth_headers(self, customer: str = "c-1", *, admin: bool = False) -> dict[str, str]:
        """A bearer token of the platform's issuer: acting for `customer`, or an admin's."""
        token = self.issuer.admin_token() if admin else self.issuer.customer_token(customer)
        return {"Authorization": f"Bearer {token}"}

    def api(self, customer: str = "c-1", *, admin: bool = False, **options: Any) -> httpx.AsyncClient:
        """An HTTP client of the gateway, authenticated as `customer` (or an admin)."""
        headers = {**self.auth_headers(customer, admin=admin), **options.pop("headers", {})}
        return httpx.AsyncClient(base_url=self.http_url("gateway"), headers=headers, **options)

    def _ready_port(self, name: str) -> int:
        return self.ports[f"{name}_http"] if registry()[name].http else self.ports[f"{name}_grpc"]

    async def _env(self, spec: Service) -> dict[str, str]:
        database = f"{self.database_prefix}{spec.name}"
        dsn = await ensure_database(self.infra.postgres_dsn, database) if spec.uses("postgres") else ""
        if spec.http and self._jwks is None:
            self._jwks = JwksServer(self.issuer).start()
        endpoints = Endpoints(
            grpc_address=self.grpc_address,
            http_port=lambda name: self.ports[f"{name}_http"],
            postgres_dsn=lambda _: dsn,
            redis_url=self.infra.redis_url,
            kafka={
                "TESSERA_KAFKA_BOOTSTRAP": self.infra.kafka_bootstrap,
                "TESSERA_KAFKA_TOPIC_PREFIX": self.topic_prefix,
            },
            mongo_url=self.infra.mongo_url,
            mongo_database=lambda name: f"{self.database_prefix}{name}",
            http=self.issuer.gateway_env(self._jwks.jwks_url) if self._jwks else {},
        )
        return {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(sys.path),
            "TESSERA_GRPC_PORT": str(self.ports[f"{spec.name}_grpc"]),
            "TESSERA_METRICS_PORT": str(self.ports[f"{spec.name}_metrics"]),
            **environment(registry(), spec.name, endpoints),
            **self.extra_env,
        }

    async def start(self, name: str) -> None:
        if self.one_process:
            raise RuntimeError(f"{name} shares one process with the other services: start them with start_services")
        spec = registry()[name]
        log = _open_log(self.log_dir / f"{name}.log")
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            f"tessera.{name}.main",  # every service's main module is packaged with the stack (see ../BUILD)
            env=await self._env(spec),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self.running[name] = RunningService(spec, process, log)

    def _log(self, name: str) -> Path:
        return Path(self.running[name].log.name)

    async def wait_healthy(self, *names: str, timeout: float = 120.0) -> dict[str, float]:
        names = names or tuple(self.running)
        seconds = await asyncio.gather(
            *(
                wait_healthy(self.running[n].spec, self._ready_port(n), self.running[n].process, timeout, self._log(n))
                for n in names
            )
        )
        return dict(zip(names, seconds, strict=True))

    async def start_services(self, names: Sequence[str]) -> None:
        """Starts the services, each in its process or (one_process) all in one."""
        if not self.one_process:
            for name in names:
                await self.start(name)
            return
        environments = {name: _service_variables(await self._env(registry()[name])) for name in names}
        config = self.log_dir / "one-process.json"
        config.touch(mode=0o600)  # it holds database credentials, as the environments of the processes would
        config.write_text(json.dumps(environments, indent=2))
        log = _open_log(self.log_dir / "platform.log")
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tessera.localstack.one_process",
            str(config),
            env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        for name in names:
            self.running[name] = RunningService(registry()[name], process, log)
        self._together = list(names)

    async def start_all(self, timeout: float = 120.0) -> dict[str, float]:
        await self.start_services(registry().names)
        return await self.wait_healthy(timeout=timeout)

    async def stop(self, name: str, sig: signal.Signals = signal.SIGTERM, timeout: float = 20.0) -> int:
        """Sends `sig` (SIGKILL for a crash) to the service's process and waits for the exit; returns the exit code.
        In one process, that stops (or kills) every service: a crash there takes them all."""
        service = self.running[name]
        for other in [n for n, s in self.running.items() if s.process is service.process]:
            del self.running[other]
        if service.process.returncode is None:
            service.process.send_signal(sig)
            try:
                await asyncio.wait_for(service.process.wait(), timeout)
            except TimeoutError:
                service.process.kill()
                await service.process.wait()
        service.log.close()
        return service.process.returncode or 0

    async def restart(self, name: str, sig: signal.Signals = signal.SIGTERM) -> float:
        """Stops the service if it runs (`sig`), starts it, and returns the seconds from its start to healthy. In one
        process, every service of that process stops and starts again."""
        names = self._together if self.one_process and name in self._together else [name]
        if name in self.running:
            await self.stop(name, sig)
        await self.start_services(names)
        return max((await self.wait_healthy(*names)).values())

    def pause(self, name: str) -> None:
        """SIGSTOP: the process holds its sockets but answers nothing, like a hung or overloaded service."""
        if self.one_process:
            raise RuntimeError(f"{name} shares one process with the other services: pausing it would pause them all")
        self.running[name].process.send_signal(signal.SIGSTOP)

    def resume(self, name: str) -> None:
        self.running[name].process.send_signal(signal.SIGCONT)

    async def stop_all(self) -> None:
        while self.running:  # the last started first; a stop in one process stops every service of it
            await self.stop(list(self.running)[-1])
        if self._jwks is not None:
            self._jwks.stop()
            self._jwks = None

    def exited(self) -> list[str]:
        return [name for name, s in self.running.items() if s.process.returncode is not None]
