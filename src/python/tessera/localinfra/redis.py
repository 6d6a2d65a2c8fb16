"""A private Redis server on 127.0.0.1, without persistence."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from tessera.localinfra import install
from tessera.localinfra.process import InfraError, free_port, port_open, spawn, stop_process, tail, wait_until


@dataclass
class RedisServer:
    base_dir: Path
    port: int = field(default_factory=free_port)
    host: str = "127.0.0.1"
    _proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://{self.host}:{self.port}/0"

    @property
    def log_file(self) -> Path:
        return self.base_dir / "redis.log"

    def start(self, timeout: float = 15.0) -> float:
        self.base_dir.mkdir(parents=True, exist_ok=True)
        self._proc = spawn(
            [
                install.redis_server(), "--bind", self.host, "--port", str(self.port),
                "--dir", str(self.base_dir), "--save", "", "--appendonly", "no",
                # Protected mode refuses every client but the loopback's; off only when bound to a private
                # address of our own on purpose (a cluster's bridge, for its pods).
                "--protected-mode", "yes" if self.host.startswith("127.") else "no",
            ],
            log_file=self.log_file,
        )  # fmt: skip
        proc = self._proc
        try:
            return wait_until(
                lambda: port_open(self.port, self.host),
                timeout=timeout,
                what="Redis",
                alive=lambda: proc.poll() is None,
            )
        except InfraError as exc:
            raise InfraError(f"{exc}\n{tail(self.log_file)}") from exc

    def stop(self) -> None:
        if self._proc is not None:
            stop_process(self._proc)
            self._proc = None
