"""The local stack: the three servers, then every service, until stopped.

State lives in a directory (default ./.tessera): Postgres data, Kafka's log and the ports chosen on the first run
are reused, so a second run starts fast and finds its data again. The feature flags are `flags.json` there (edit
it while the stack runs: services pick changes up within a second). A Prometheus scrapes every service with the
alert rules of the chart, and a Jaeger keeps every service's traces (in memory).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from google.protobuf import json_format

from tessera.localinfra import LocalInfra
from tessera.localinfra.jaeger import JaegerPorts, JaegerServer
from tessera.localinfra.process import free_port
from tessera.localinfra.prometheus import PrometheusServer
from tessera.localstack.demo import ensure_demo_products
from tessera.localstack.platform import Platform
from tessera.orders.service_layer import PLACEMENT_FLAG
from tessera.testing.mocks import ServiceMock
from tessera.tools.dashboards import alert_rules
from tessera.topology import registry

JAEGER_PORTS = tuple(f"jaeger_{name}" for name in JaegerPorts.__dataclass_fields__)
INFRA_PORTS = ("postgres", "redis", "kafka", "kafka_controller", "mongo", "prometheus", *JAEGER_PORTS)

# The flags a new stack starts with, in flagd's format (see kit.flags).
DEFAULT_FLAGS = {
    "flags": {
        PLACEMENT_FLAG: {"state": "ENABLED", "variants": {"on": True, "off": False}, "defaultVariant": "on"},
    }
}


def _load_ports(state_dir: Path) -> dict[str, int]:
    path = state_dir / "ports.json"
    ports: dict[str, int] = json.loads(path.read_text()) if path.exists() else {}
    kinds = {s.name: ("grpc", "metrics", "http") if s.http else ("grpc", "metrics") for s in registry().services}
    for name in [*INFRA_PORTS, *(f"{s.name}_{kind}" for s in registry().services for kind in kinds[s.name])]:
        ports.setdefault(name, free_port())
    path.write_text(json.dumps(ports, indent=2))
    return ports


@dataclass
class LocalStack:
    """The servers, Jaeger, every service and Prometheus, as `up` runs them (and the capacity benchmark).

    `only`: run just these services for real; with `mock_others`, each service they call and that is not among them
    is a mock made from its contract (tessera.testing.mocks) on that service's port, answering as `mock_answers`
    says ({service: {method: reply in protobuf's JSON mapping}}) and otherwise echoing the request's fields.
    `one_process`: the services run in one Python process (each with its own servers and ports), not one each.
    """

    state_dir: Path
    extra_env: Mapping[str, str] = field(default_factory=dict)
    only: Sequence[str] = ()
    mock_others: bool = False
    mock_answers: Mapping[str, Mapping[str, Mapping[str, Any]]] = field(default_factory=dict)
    one_process: bool = False

    def __post_init__(self) -> None:
        unknown = set(self.only) - set(registry().names)
        if unknown:
            raise ValueError(f"no service {sorted(unknown)} in the registry; it has {registry().names}")
        self.real = [s.name for s in registry().services if not self.only or s.name in self.only]
        called = {callee for name in self.real for callee in registry()[name].calls}
        self.mocks = {name: self._mock(name) for name in sorted(called - set(self.real)) if self.mock_others}
        self.state_dir.mkdir(parents=True, exist_ok=True)
        ports = _load_ports(self.state_dir)
        self.flags = self.state_dir / "flags.json"
        if not self.flags.exists():
            self.flags.write_text(json.dumps(DEFAULT_FLAGS, indent=2))
        self.infra = LocalInfra(self.state_dir / "infra", ports=ports)
        self.jaeger = JaegerServer(self.state_dir / "jaeger", JaegerPorts(*(ports[name] for name in JAEGER_PORTS)))
        self.platform = Platform(
            self.infra.endpoints,
            self.state_dir / "logs",
            ports={k: v for k, v in ports.items() if k not in INFRA_PORTS},
            issuer_dir=self.state_dir / "issuer",
            one_process=self.one_process,
            extra_env={
                "TESSERA_FLAGS_FILE": str(self.flags.resolve()),
                "TESSERA_OTLP_ENDPOINT": self.jaeger.otlp_endpoint,
                **self.extra_env,
            },
        )
        rules = self.state_dir / "prometheus" / "alerts.json"
        rules.parent.mkdir(parents=True, exist_ok=True)
        rules.write_text(json.dumps(alert_rules(), indent=2))
        self.prometheus = PrometheusServer(
            self.state_dir / "prometheus",
            {name: f"127.0.0.1:{ports[f'{name}_metrics']}" for name in self.real},
            rule_files=[rules],
            port=ports["prometheus"],
            scrape_interval="5s",
        )

    def _mock(self, name: str) -> ServiceMock:
        spec = registry()[name]
        if not spec.grpc_api:
            raise ValueError(f"{name} serves no gRPC API to mock")
        mock = ServiceMock.named(spec.grpc_api, echo_by_default=True)
        for method, reply in self.mock_answers.get(name, {}).items():
            mock.on(method).returns(reply, echo=True)
        mock.listener = lambda method, request: print(
            f"mock {name}.{method} <- {json_format.MessageToJson(request, indent=None)}", flush=True
        )
        return mock

    async def start(self) -> None:
        """Starts everything; on a failure, stops what it started."""
        try:
            await asyncio.to_thread(self.infra.start)
            await asyncio.to_thread(self.jaeger.start)
            for name, mock in self.mocks.items():
                await mock.start(port=self.platform.ports[f"{name}_grpc"])
            await self.platform.start_services(self.real)
            await self.platform.wait_healthy()
            await asyncio.to_thread(self.prometheus.start)
        except BaseException:
            await self.stop()
            raise

    async def stop(self) -> None:
        await asyncio.to_thread(self.prometheus.stop)
        await self.platform.stop_all()
        for mock in self.mocks.values():
            await mock.stop()
        await asyncio.to_thread(self.jaeger.stop)
        await asyncio.to_thread(self.infra.stop)

    def pids(self) -> dict[str, int]:
        """Every process of the stack by name (each leads its process group): services and servers."""
        services = {name: running.process.pid for name, running in self.platform.running.items()}
        if self.one_process and self.platform.running:
            services = {"services": next(iter(self.platform.running.values())).process.pid}
        servers = {"jaeger": self.jaeger.pid, "prometheus": self.prometheus.pid}
        return {**services, **self.infra.pids(), **{k: v for k, v in servers.items() if v is not None}}


async def run(
    state_dir: Path,
    stop: asyncio.Event,
    *,
    demo: bool = True,
    up: asyncio.Event | None = None,
    **partial: Any,
) -> None:
    """Runs the stack until `stop`; with `demo`, the catalog holds the demo products; `up` is set once it serves.
    `partial`: LocalStack's only / mock_others / mock_answers / one_process."""
    began = time.monotonic()
    stack = LocalStack(state_dir, **partial)
    infra, jaeger, platform, prometheus = stack.infra, stack.jaeger, stack.platform, stack.prometheus
    await stack.start()
    try:
        targets = (platform.grpc_address("catalog"), platform.grpc_address("inventory"))
        seedable = demo and {"catalog", "inventory"} <= set(stack.real)
        products = await ensure_demo_products(*targets) if seedable else []
        print(f"infrastructure up in {infra.startup_seconds['all']:.1f} s", flush=True)
        endpoints = infra.endpoints
        print(f"\nTessera is up ({time.monotonic() - began:.1f} s from command to all healthy):", flush=True)
        print(f"  postgres   {endpoints.postgres_dsn}")
        print(f"  redis      {endpoints.redis_url}")
        print(f"  kafka      {endpoints.kafka_bootstrap}")
        print(f"  mongodb    {endpoints.mongo_url}  (FerretDB: the MongoDB protocol, documents kept in PostgreSQL)")
        for spec in registry().services:
            metrics = f"metrics http://127.0.0.1:{platform.ports[f'{spec.name}_metrics']}/metrics"
            if spec.name in stack.mocks:
                print(f"  {spec.name:<11} grpc {platform.grpc_address(spec.name)}  (a mock of {spec.grpc_api})")
            elif spec.name not in stack.real:
                continue
            elif spec.http:
                api = f"{platform.http_url(spec.name)}  (REST /v1, docs /docs, GraphQL /graphql)"
                print(f"  {spec.name:<11} {api}  {metrics}")
            else:
                print(f"  {spec.name:<11} grpc {platform.grpc_address(spec.name)}  {metrics}")
        print(f"  prometheus {prometheus.url}  (alerts {prometheus.url}/alerts)")
        print(f"  jaeger     {jaeger.url}  (traces: {jaeger.url}/api/traces?service=gateway)")
        print(f"  health     {platform.http_url('gateway')}/v1/platform/health")
        print(f"  flags      {stack.flags.resolve()}  (edit it: services follow within a second)")
        token = "./pants --no-pantsd run src/python/tessera/tools:token -- --customer c-1"
        print(f"  issuer     {stack.platform.issuer.issuer}  (every API call needs a token: {token})")
        mode = "one process, log platform.log" if stack.one_process else "a process each"
        print(f"  logs       {platform.log_dir}/  (services: {mode})")
        for product, product_id in products:
            stock = f"{product.price_cents / 100:.2f} EUR, {product.stock} in stock when created"
            print(f"  demo       {product_id}  {product.name} ({stock})")
        print("Press Ctrl-C to stop.", flush=True)
        if up is not None:
            up.set()
        while not stop.is_set():
            if crashed := platform.exited():
                print(f"{', '.join(crashed)} exited; stopping", flush=True)
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=1.0)
    finally:
        print("stopping...", flush=True)
        await stack.stop()
        print("stopped.", flush=True)
