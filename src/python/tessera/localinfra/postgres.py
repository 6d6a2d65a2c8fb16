"""A private PostgreSQL server: initdb into a directory, pg_ctl-free start, stop on exit."""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import stat
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from tessera.localinfra import install
from tessera.localinfra.process import InfraError, LocalServer, free_port

SUPERUSER = "tessera"


def _as_postgres_user() -> list[str]:
    """PostgreSQL refuses to run as root; when we are root, run it as the 'postgres' system user."""
    if os.geteuid() != 0:
        return []
    try:
        pwd.getpwnam("postgres")
    except KeyError as exc:
        raise InfraError("running as root needs a 'postgres' system user (apt-get install postgresql)") from exc
    return ["runuser", "-u", "postgres", "--"]


@dataclass
class PostgresServer(LocalServer):
    port: int = field(default_factory=free_port)
    # The address it listens on; clients from `client_network` (e.g. a cluster's pods) are trusted as well.
    host: str = "127.0.0.1"
    client_network: str | None = None

    name: ClassVar[str] = "PostgreSQL"
    log_name: ClassVar[str] = "postgres.log"

    @property
    def data_dir(self) -> Path:
        return self.base_dir / "data"

    def dsn(self, database: str = "postgres") -> str:
        return f"postgresql://{SUPERUSER}@{self.host}:{self.port}/{database}"

    def _chown_for_postgres(self) -> None:
        """As root, hand the server's directory to 'postgres' and let it traverse the (often 0700) parents."""
        if os.geteuid() != 0:
            return
        entry = pwd.getpwnam("postgres")
        for parent in reversed(self.base_dir.resolve().parents):
            mode = parent.stat().st_mode
            if not mode & stat.S_IXOTH:
                parent.chmod(stat.S_IMODE(mode) | stat.S_IXOTH)
        for path in (self.base_dir, *self.base_dir.rglob("*")):
            os.chown(path, entry.pw_uid, entry.pw_gid)

    def initialize(self) -> None:
        """Creates the cluster once; a directory that already holds one is reused (the local stack's second run)."""
        bin_dir = install.postgres_bin_dir()
        self.base_dir.mkdir(parents=True, exist_ok=True)
        if (self.data_dir / "PG_VERSION").exists():
            return
        self._chown_for_postgres()
        result = subprocess.run(
            [
                *_as_postgres_user(), str(bin_dir / "initdb"), "-D", str(self.data_dir),
                "-U", SUPERUSER, "--auth=trust", "--encoding=UTF8", "--no-sync", "--locale=C",
            ],
            capture_output=True,
            text=True, check=False,
        )  # fmt: skip
        if result.returncode != 0:
            raise InfraError(f"initdb failed: {result.stderr[-2000:]}")

    def _trust_clients(self) -> None:
        if self.client_network is None:
            return
        hba = self.data_dir / "pg_hba.conf"
        line = f"host all all {self.client_network} trust"
        if line not in hba.read_text().splitlines():
            with hba.open("a") as handle:
                handle.write(line + "\n")

    def start(self, timeout: float = 30.0) -> float:
        """Starts the server and returns the seconds until it accepted connections."""
        self.initialize()
        self._trust_clients()
        bin_dir = install.postgres_bin_dir()
        socket_dir = self.base_dir / "sock"
        socket_dir.mkdir(exist_ok=True)
        self._chown_for_postgres()
        pg_isready = str(bin_dir / "pg_isready")

        def ready() -> bool:
            probe = ["-h", self.host, "-p", str(self.port), "-U", SUPERUSER, "-d", "postgres", "-q"]
            return subprocess.run([pg_isready, *probe], check=False).returncode == 0

        return self._run(
            [
                *_as_postgres_user(), str(bin_dir / "postgres"), "-D", str(self.data_dir),
                "-h", self.host, "-p", str(self.port), "-k", str(socket_dir),
                # Throwaway servers: durability off for speed; the tests never rely on surviving a host crash.
                "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
                "-c", "max_connections=300",
            ],
            ready=ready,
            timeout=timeout,
        )  # fmt: skip

    def stop(self, *, fast: bool = False) -> None:
        """SIGTERM is PostgreSQL's "smart" shutdown (waits for clients to leave); `fast` (SIGINT) disconnects them,
        as a restart or failover in production does."""
        self._stop(signal.SIGINT if fast else signal.SIGTERM)

    def remove(self) -> None:
        shutil.rmtree(self.base_dir, ignore_errors=True)
