"""Helpers shared by the server launchers: free ports, waiting for readiness, stopping process groups."""

from __future__ import annotations

import os
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


def free_port(host: str = "127.0.0.1") -> int:
    """A port that was free a moment ago on `host` (the caller retries if another process takes it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


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
