"""Jaeger v2 (an OpenTelemetry Collector with Jaeger's storage and query): traces in memory, OTLP in, UI and API out.

The same program and configuration serve the local stack (a process on 127.0.0.1) and the local cluster (a pod).
Jaeger's own all-in-one configuration listens on every protocol; ours opens OTLP/gRPC, the query API and the
health check only, on the address given. The Go module does not carry the UI's assets (built by npm in Jaeger's
repository), so the UI is a placeholder page; the query API (/api/services, /api/traces) is complete.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import ClassVar

import httpx

from tessera.localinfra.goprograms import GoProgram
from tessera.localinfra.jaegertrim import JaegerComponents
from tessera.localinfra.process import LocalServer, free_port

JAEGER_VERSION = "v1.76.0"  # the module's tag; the program is Jaeger v2
# The collector components `jaeger_config` names, by their Go packages: the rest are left out of the build.
JAEGER_COMPONENTS = (
    "healthcheckv2extension",  # healthcheckv2
    "jaegerstorage",  # jaeger_storage
    "jaegerquery",  # jaeger_query
    "otlpreceiver",  # otlp
    "batchprocessor",  # batch
    "storageexporter",  # jaeger_storage_exporter
)
JAEGER = GoProgram(
    name="jaeger",
    module="github.com/jaegertracing/jaeger",
    version=JAEGER_VERSION,
    package="github.com/jaegertracing/jaeger/cmd/jaeger",
    edit=JaegerComponents(JAEGER_COMPONENTS),
)


@dataclass(frozen=True)
class JaegerPorts:
    otlp_grpc: int = 4317
    query_http: int = 16686
    query_grpc: int = 16685
    health: int = 13133


def jaeger_config(host: str, ports: JaegerPorts, *, max_traces: int = 50_000) -> dict[str, object]:
    """Jaeger's configuration (OpenTelemetry Collector format): OTLP/gRPC in, memory storage, the query API."""
    return {
        "service": {
            "extensions": ["jaeger_storage", "jaeger_query", "healthcheckv2"],
            "pipelines": {
                "traces": {"receivers": ["otlp"], "processors": ["batch"], "exporters": ["jaeger_storage_exporter"]}
            },
            # Its own metrics server would take a fixed port (8888); nothing scrapes it here.
            "telemetry": {"metrics": {"level": "none"}, "logs": {"level": "info"}},
        },
        "extensions": {
            "jaeger_storage": {"backends": {"memory": {"memory": {"max_traces": max_traces}}}},
            "jaeger_query": {
                "storage": {"traces": "memory"},
                "enable_tracing": False,  # else it sends its own spans to localhost:4317
                "http": {"endpoint": f"{host}:{ports.query_http}"},
                "grpc": {"endpoint": f"{host}:{ports.query_grpc}"},
            },
            "healthcheckv2": {"use_v2": True, "http": {"endpoint": f"{host}:{ports.health}"}},
        },
        "receivers": {"otlp": {"protocols": {"grpc": {"endpoint": f"{host}:{ports.otlp_grpc}"}}}},
        "processors": {"batch": {"timeout": "1s"}},
        "exporters": {"jaeger_storage_exporter": {"trace_storage": "memory"}},
    }


@dataclass
class JaegerServer(LocalServer):
    """Jaeger as a local process, keeping traces in memory."""

    ports: JaegerPorts = field(default_factory=lambda: JaegerPorts(*(free_port() for _ in range(4))))
    host: str = "127.0.0.1"

    name: ClassVar[str] = "Jaeger"
    log_name: ClassVar[str] = "jaeger.log"

    @property
    def url(self) -> str:
        """The UI, and the query API under /api."""
        return f"http://{self.host}:{self.ports.query_http}"

    @property
    def otlp_endpoint(self) -> str:
        return f"http://{self.host}:{self.ports.otlp_grpc}"

    def start(self, timeout: float = 60.0) -> float:
        program = JAEGER.path()
        self.base_dir.mkdir(parents=True, exist_ok=True)
        config = self.base_dir / "jaeger.yaml"
        config.write_text(json.dumps(jaeger_config(self.host, self.ports), indent=2))  # JSON is YAML

        def ready() -> bool:
            try:
                health = httpx.get(f"http://{self.host}:{self.ports.health}/status", timeout=1)
                return health.status_code == 200 and httpx.get(f"{self.url}/api/services", timeout=1).is_success
            except httpx.HTTPError:
                return False

        return self._run([str(program), f"--config={config}"], ready=ready, timeout=timeout)
