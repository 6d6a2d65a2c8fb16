"""Helpers shared by the server launchers: free ports, waiting for readiness, stopping process groups."""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar


class InfraError(RuntimeError):
    """A server could not be installed, started or reached."""


# Hand-written, not the kernel's choice for port 0: that comes from the ephemeral range, the one outgoing connections
# take their source ports from. With test batches running side by side, a connection took a port between its
# choice and the server's bind (a one-process stack's uvicorn exited 3: address in use). Ports below that range are
# never a connection's source, and below 30000 never Kubernetes' NodePorts. (portpicker does the same; adding it
# meant re-resolving the whole lockfile.)
_FIRST_PORT = 10_000
_handed_out: set[int] = set()


def _ephemeral_range_start() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32_768  # Linux's default


def free_port(host: str = "127.0.0.1") -> int:
    """A port free a moment ago on `host`, outside the ephemeral range, and not handed out before by this process."""
    last = min(_ephemeral_range_start(), 30_000)
    for _ in range(200):
        port = random.randrange(_FIRST_PORT, last)
        if port in _handed_out:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind((host, port))
            except OSError:
                continue
        _handed_out.add(port)
        return port
    raise InfraError(f"no free port on {host} between {_FIRST_PORT} and {last}")


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def wait_until(
    ready: Callable[[], bool],
    *,
    timeout: float,
    what: str,
    alive: Callable[[], bool] | None = None,
    interval: float = 0.05,
) -> float:
    """Polls `ready` until it is true; returns the seconds it took. Fails fast if `alive` turns false."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if ready():
            return time.monotonic() - started
        if alive is not None and not alive():
            raise InfraError(f"{what} exited before it was ready")
        time.sleep(interval)
    raise InfraError(f"{what} was not ready after {timeout:.0f} s")


def spawn(args: list[str], *, log_file: Path, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    """Starts a server in its own process group, so stopping it also stops anything it forked."""
    log = log_file.open("ab")
    return subprocess.Popen(
        args,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        env={**os.environ, **(env or {})},
        start_new_session=True,
    )


def stop_process(
    proc: subprocess.Popen[bytes], *, timeout: float = 15.0, first: signal.Signals = signal.SIGTERM
) -> None:
    """`first` (SIGTERM) to the process group, then SIGKILL if it has not gone within `timeout`."""
    if proc.poll() is not None:
        return
    for sig, wait in ((first, timeout), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


@dataclass
class LocalServer:
    """What every local server shares: a directory of its own with its log, a process group started by `_run` and
    waited for until ready (failing with its log's tail), and a stop that takes its children too."""

    base_dir: Path
    _proc: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)

    name: ClassVar[str]  # in messages
    log_name: ClassVar[str]  # its log file, in base_dir
    stop_timeout: ClassVar[float] = 15.0

    @property
    def log_file(self) -> Path:
        return self.base_dir / self.log_name

    @property
    def pid(self) -> int | None:
        """Its process id (it leads its process group), while it runs."""
        return self._proc.pid if self._proc is not None else None

    def _run(
        self, args: list[str], ready: Callable[[], bool], timeout: float, env: dict[str, str] | None = None
    ) -> float:
        """Starts `args` and waits until `ready`; returns the seconds that took."""
        self.base_dir.mkdir(parents=True, exist_ok=True)
        self._proc = spawn(args, log_file=self.log_file, env=env)
        proc = self._proc
        try:
            return wait_until(ready, timeout=timeout, what=self.name, alive=lambda: proc.poll() is None)
        except InfraError as exc:
            raise InfraError(f"{exc}\n{tail(self.log_file)}") from exc

    def stop(self) -> None:
        self._stop(signal.SIGTERM)

    def _stop(self, first: signal.Signals) -> None:
        if self._proc is not None:
            stop_process(self._proc, timeout=self.stop_timeout, first=first)
            self._proc = None
