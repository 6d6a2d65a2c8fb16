"""A private Redis server on 127.0.0.1, without persistence."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from tessera.localinfra import install
from tessera.localinfra.process import LocalServer, free_port, port_open


@dataclass
class RedisServer(LocalServer):
    port: int = field(default_factory=free_port)
    host: str = "127.0.0.1"

    name: ClassVar[str] = "Redis"
    log_name: ClassVar[str] = "redis.log"

    @property
    def url(self) -> str:
        return f"redis://{self.host}:{self.port}/0"

    def start(self, timeout: float = 15.0) -> float:
        return self._run(
            [
                install.redis_server(), "--bind", self.host, "--port", str(self.port),
                "--dir", str(self.base_dir), "--save", "", "--appendonly", "no",
                # Protected mode refuses every client but the loopback's; off only when bound to a private
                # address of our own on purpose (a cluster's bridge, for its pods).
                "--protected-mode", "yes" if self.host.startswith("127.") else "no",
            ],
            ready=lambda: port_open(self.port, self.host),
            timeout=timeout,
        )  # fmt: skip
