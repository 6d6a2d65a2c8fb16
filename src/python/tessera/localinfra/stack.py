"""Starts PostgreSQL, Redis, Kafka and a MongoDB-protocol server (FerretDB) together and stops them together."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from tessera.localinfra import install
from tessera.localinfra.kafka import KafkaServer
from tessera.localinfra.mongo import FERRETDB, FerretDBServer
from tessera.localinfra.postgres import PostgresServer
from tessera.localinfra.process import free_port
from tessera.localinfra.redis import RedisServer

# When these are all set, tests use servers that are already running instead of starting their own.
ENV_POSTGRES_DSN = "TESSERA_INFRA_POSTGRES_DSN"
ENV_REDIS_URL = "TESSERA_INFRA_REDIS_URL"
ENV_KAFKA_BOOTSTRAP = "TESSERA_INFRA_KAFKA_BOOTSTRAP"
ENV_MONGO_URL = "TESSERA_INFRA_MONGO_URL"


@dataclass(frozen=True)
class InfraEndpoints:
    postgres_dsn: str  # superuser DSN to the 'postgres' database
    redis_url: str
    kafka_bootstrap: str
    mongo_url: str  # a MongoDB-protocol server (FerretDB here, or a real MongoDB)

    @classmethod
    def from_env(cls) -> InfraEndpoints | None:
        names = (ENV_POSTGRES_DSN, ENV_REDIS_URL, ENV_KAFKA_BOOTSTRAP, ENV_MONGO_URL)
        values = [os.environ.get(name) for name in names]
        if not all(values):
            return None
        dsn, redis_url, kafka, mongo = (v or "" for v in values)
        return cls(postgres_dsn=dsn, redis_url=redis_url, kafka_bootstrap=kafka, mongo_url=mongo)

    def as_env(self) -> dict[str, str]:
        return {
            ENV_POSTGRES_DSN: self.postgres_dsn,
            ENV_REDIS_URL: self.redis_url,
            ENV_KAFKA_BOOTSTRAP: self.kafka_bootstrap,
            ENV_MONGO_URL: self.mongo_url,
        }


class LocalInfra:
    """The four servers in one directory. A throwaway temp dir by default; a fixed dir is kept and reused.

    Usage: `with LocalInfra() as infra: infra.endpoints ...`.
    """

    def __init__(
        self,
        base_dir: Path | None = None,
        *,
        ports: dict[str, int] | None = None,
        host: str = "127.0.0.1",
        client_network: str | None = None,
    ) -> None:
        """`host`: the address the servers listen on (127.0.0.1; a cluster's bridge address for its pods), and
        `client_network` the network PostgreSQL trusts besides the loopback."""
        self._owns_dir = base_dir is None
        self.base_dir = base_dir or Path(tempfile.mkdtemp(prefix="tessera-infra-"))
        ports = ports or {}
        self.postgres = PostgresServer(
            self.base_dir / "postgres",
            port=ports.get("postgres") or free_port(host),
            host=host,
            client_network=client_network,
        )
        self.redis = RedisServer(self.base_dir / "redis", port=ports.get("redis") or free_port(host), host=host)
        self.kafka = KafkaServer(
            self.base_dir / "kafka",
            port=ports.get("kafka") or free_port(host),
            controller_port=ports.get("kafka_controller") or free_port(host),
            host=host,
        )
        self.mongo = FerretDBServer(
            self.base_dir / "ferretdb",
            self.postgres.dsn(),
            port=ports.get("mongo") or free_port(host),
            host=host,
        )
        self.startup_seconds: dict[str, float] = {}

    @property
    def endpoints(self) -> InfraEndpoints:
        return InfraEndpoints(
            postgres_dsn=self.postgres.dsn(),
            redis_url=self.redis.url,
            kafka_bootstrap=self.kafka.bootstrap_servers,
            mongo_url=self.mongo.url,
        )

    def start(self) -> InfraEndpoints:
        """Installs what is missing, then starts the servers in parallel (FerretDB once PostgreSQL is up) and waits for
        each to answer."""
        began = time.monotonic()
        # Installing first, one at a time: apt and Maven must not run twice at once.
        install.postgres_bin_dir()
        install.redis_server()
        install.kafka_libs()
        install.java()
        FERRETDB.path()  # built from its Go module once (minutes on a fresh machine)
        self.startup_seconds["install"] = time.monotonic() - began
        began = time.monotonic()
        with ThreadPoolExecutor(max_workers=3) as pool:
            futures = {
                "postgres": pool.submit(self._postgres_then_mongo),
                "redis": pool.submit(self.redis.start),
                "kafka": pool.submit(self.kafka.start),
            }
        # The pool has waited for all three; stop whatever did start if any one failed.
        errors = [f.exception() for f in futures.values() if f.exception() is not None]
        if errors:
            self.stop()
            raise errors[0]  # type: ignore[misc]
        for name, future in futures.items():
            self.startup_seconds[name] = future.result()
        self.startup_seconds["all"] = time.monotonic() - began
        return self.endpoints

    def _postgres_then_mongo(self) -> float:
        seconds = self.postgres.start()
        self.startup_seconds["mongo"] = self.mongo.start()
        return seconds

    def pids(self) -> dict[str, int]:
        """The servers' process ids (each leads its process group), for a stop by another process."""
        servers = {"postgres": self.postgres, "redis": self.redis, "kafka": self.kafka, "mongo": self.mongo}
        return {name: server.pid for name, server in servers.items() if server.pid is not None}

    def stop(self) -> None:
        self.mongo.stop()
        self.kafka.stop()
        self.redis.stop()
        # Fast: disconnect whoever is still connected, rather than wait for them (a smart shutdown can hang).
        self.postgres.stop(fast=True)
        if self._owns_dir:
            shutil.rmtree(self.base_dir, ignore_errors=True)

    def __enter__(self) -> LocalInfra:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
