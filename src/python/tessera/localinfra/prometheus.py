"""A private Prometheus on 127.0.0.1 scraping the local stack: the same metrics and alert rules as in Kubernetes.

Each target gets `job="tessera"` and a `service` label, as the chart's ServiceMonitors give them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import httpx

from tessera.localinfra import install
from tessera.localinfra.process import InfraError, LocalServer, free_port


@dataclass
class PrometheusServer(LocalServer):
    targets: dict[str, str]  # service name -> host:port of its /metrics
    rule_files: list[Path] = field(default_factory=list)
    port: int = field(default_factory=free_port)
    scrape_interval: str = "1s"

    name: ClassVar[str] = "Prometheus"
    log_name: ClassVar[str] = "prometheus.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def config(self) -> dict[str, object]:
        return {
            "global": {"scrape_interval": self.scrape_interval, "evaluation_interval": self.scrape_interval},
            "rule_files": [str(path.resolve()) for path in self.rule_files],
            "scrape_configs": [
                {
                    "job_name": "tessera",
                    "static_configs": [
                        {"targets": [address], "labels": {"service": name}} for name, address in self.targets.items()
                    ],
                }
            ],
        }

    def start(self, timeout: float = 30.0) -> float:
        server, _ = install.prometheus()
        self.base_dir.mkdir(parents=True, exist_ok=True)
        config = self.base_dir / "prometheus.yml"
        config.write_text(json.dumps(self.config(), indent=2))  # JSON is YAML

        def ready() -> bool:
            try:
                return httpx.get(f"{self.url}/-/ready", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        return self._run(
            [
                server, f"--config.file={config}", f"--storage.tsdb.path={self.base_dir / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}", "--web.enable-lifecycle",
            ],
            ready=ready,
            timeout=timeout,
        )  # fmt: skip

    def query(self, expr: str) -> list[dict[str, object]]:
        """An instant query's result vector; raises with Prometheus' message if the expression is invalid."""
        reply = httpx.get(f"{self.url}/api/v1/query", params={"query": expr}, timeout=10).json()
        if reply.get("status") != "success":
            raise InfraError(f"{expr}: {reply.get('errorType')}: {reply.get('error')}")
        result: list[dict[str, object]] = reply["data"]["result"]
        return result
