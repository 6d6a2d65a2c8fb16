"""A single-node Apache Kafka in KRaft mode (no ZooKeeper), run from its Maven Central jars on the local JDK."""

from __future__ import annotations

import subprocess
import uuid
from dataclasses import dataclass, field
from typing import ClassVar

from tessera.localinfra import install
from tessera.localinfra.process import InfraError, LocalServer, free_port, port_open

_LOG4J = """log4j.rootLogger=WARN, stdout
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n
"""


@dataclass
class KafkaServer(LocalServer):
    port: int = field(default_factory=free_port)
    controller_port: int = field(default_factory=free_port)
    heap: str = "512m"
    host: str = "127.0.0.1"

    name: ClassVar[str] = "Kafka"
    log_name: ClassVar[str] = "kafka.log"
    stop_timeout: ClassVar[float] = 30.0  # a controlled shutdown flushes the log

    @property
    def bootstrap_servers(self) -> str:
        return f"{self.host}:{self.port}"

    def _properties(self) -> str:
        return "\n".join(
            [
                "process.roles=broker,controller",
                "node.id=1",
                f"controller.quorum.voters=1@{self.host}:{self.controller_port}",
                f"listeners=PLAINTEXT://{self.host}:{self.port},CONTROLLER://{self.host}:{self.controller_port}",
                f"advertised.listeners=PLAINTEXT://{self.host}:{self.port}",
                "controller.listener.names=CONTROLLER",
                "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
                "inter.broker.listener.name=PLAINTEXT",
                f"log.dirs={self.base_dir / 'data'}",
                "num.partitions=4",
                "auto.create.topics.enable=true",
                # One broker: every internal topic has a single replica.
                "offsets.topic.replication.factor=1",
                "offsets.topic.num.partitions=4",
                "transaction.state.log.replication.factor=1",
                "transaction.state.log.min.isr=1",
                "min.insync.replicas=1",
                # Consumers join at once instead of waiting 3 s for more members.
                "group.initial.rebalance.delay.ms=0",
                "",
            ]
        )

    def _java(self, main: str, *args: str, heap: str = "256m") -> list[str]:
        libs = install.kafka_libs()
        return [
            install.java(), f"-Xmx{heap}", "-XX:+UseG1GC", "-Djava.awt.headless=true",
            f"-Dlog4j.configuration=file:{self.base_dir / 'log4j.properties'}",
            "-cp", f"{libs}/*", main, *args,
        ]  # fmt: skip

    def initialize(self) -> None:
        """Formats the KRaft storage once; an existing one is reused (its ports must then stay the same)."""
        self.base_dir.mkdir(parents=True, exist_ok=True)
        (self.base_dir / "log4j.properties").write_text(_LOG4J)
        (self.base_dir / "server.properties").write_text(self._properties())
        if (self.base_dir / "data" / "meta.properties").exists():
            return
        cluster_id = str(uuid.uuid4().hex[:22])
        result = subprocess.run(
            self._java(
                "kafka.tools.StorageTool",
                "format",
                "-t",
                cluster_id,
                "-c",
                str(self.base_dir / "server.properties"),
            ),
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise InfraError(f"formatting Kafka's storage failed: {result.stdout[-2000:]}{result.stderr[-2000:]}")

    def start(self, timeout: float = 60.0) -> float:
        self.initialize()
        return self._run(
            self._java("kafka.Kafka", str(self.base_dir / "server.properties"), heap=self.heap),
            ready=lambda: port_open(self.port, self.host),
            timeout=timeout,
        )
