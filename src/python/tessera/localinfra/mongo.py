"""A MongoDB-protocol server on 127.0.0.1: FerretDB v1, keeping its documents in a database of the local PostgreSQL.

No MongoDB server can be installed here (Debian, PyPI and npm carry none), but FerretDB (Apache-2.0) speaks
MongoDB's wire protocol on top of PostgreSQL and builds from its Go module. The services use only the protocol,
so a real MongoDB takes its place by URL (TESSERA_MONGO_URL), unchanged.
"""

from __future__ import annotations

import asyncio
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from tessera.localinfra.goprograms import GoProgram
from tessera.localinfra.process import InfraError, free_port, spawn, stop_process, tail, wait_until

FERRETDB_VERSION = "v1.24.2"
FERRETDB = GoProgram(
    name="ferretdb",
    module="github.com/FerretDB/FerretDB",
    version=FERRETDB_VERSION,
    package="github.com/FerretDB/FerretDB/cmd/ferretdb",
    # Its release build writes its version here (`task gen-version`); a build without it panics at start.
    generated={"build/version/version.txt": f"{FERRETDB_VERSION}\n", "build/version/package.txt": "tessera\n"},
)
DATABASE = "ferretdb"  # FerretDB's own PostgreSQL database: a schema in it per MongoDB database


def answers(url: str, timeout_ms: int = 1000) -> bool:
    """Whether a MongoDB-protocol server answers a ping at `url`."""
    # Imported here, as the kit below: `tessera.localinfra` is imported by tools run with a bare Python (the image
    # builder's docker shim), which has none of the platform's libraries.
    import pymongo
    from pymongo.errors import PyMongoError

    client: pymongo.MongoClient[dict[str, object]] = pymongo.MongoClient(
        url, serverSelectionTimeoutMS=timeout_ms, connectTimeoutMS=timeout_ms
    )
    try:
        client.admin.command("ping")
        return True
    except PyMongoError:
        return False
    finally:
        client.close()


@dataclass
class FerretDBServer:
    base_dir: Path
    postgres_dsn: str  # a superuser DSN of the PostgreSQL server to keep the documents on
    port: int = field(default_factory=free_port)
    host: str = "127.0.0.1"
    _proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"mongodb://{self.host}:{self.port}/"

    @property
    def log_file(self) -> Path:
        return self.base_dir / "ferretdb.log"

    def start(self, timeout: float = 60.0) -> float:
        """Starts FerretDB (PostgreSQL must be up) and waits until it answers; returns the seconds it took."""
        from tessera.kit.db import ensure_database

        program = FERRETDB.path()
        self.base_dir.mkdir(parents=True, exist_ok=True)
        backend = asyncio.run(ensure_database(self.postgres_dsn, DATABASE))
        self._proc = spawn(
            [
                str(program),
                f"--listen-addr={self.host}:{self.port}",
                "--handler=postgresql",
                # Its pool (50 by default) bounds the writes in flight: each write of a command holds a connection
                # until the command ends (see projections.projectors.OPS_PER_COMMAND).
                f"--postgresql-url={backend}?pool_max_conns=100",
                f"--state-dir={self.base_dir}",
                "--debug-addr=-",  # its metrics/pprof listener would take a fixed port (8088)
                "--telemetry=disable",
                "--log-level=warn",
            ],
            log_file=self.log_file,
        )
        proc = self._proc
        try:
            return wait_until(
                lambda: answers(self.url), timeout=timeout, what="FerretDB", alive=lambda: proc.poll() is None
            )
        except InfraError as exc:
            raise InfraError(f"{exc}\n{tail(self.log_file)}") from exc

    def stop(self) -> None:
        if self._proc is not None:
            stop_process(self._proc)
            self._proc = None
