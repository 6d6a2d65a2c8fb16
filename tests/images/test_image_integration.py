"""A service image, built by Pants from its PEX (the `:image` target every service gets), starts and answers
its gRPC health check, running as a non-root user on a read-only root filesystem (as the Helm chart runs it)."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import grpc
import httpx
import pytest

from tessera.kit.grpc_client import check_health
from tessera.localinfra.images import Containers
from tessera.localinfra.process import free_port

pytestmark = pytest.mark.integration

SERVICE = "payments"
PEX = Path(f"src.python.tessera.{SERVICE}/{SERVICE}.pex")  # put in the sandbox by runtime_package_dependencies
IMAGE = f"localhost/tessera/{SERVICE}:latest"  # built by Pants (runtime_package_dependencies) into podman's storage


@pytest.fixture(scope="module")
def image() -> Iterator[tuple[Containers, str]]:
    containers = Containers.prepare()
    assert containers.podman("image", "exists", IMAGE).returncode == 0, f"Pants did not build {IMAGE}"
    yield containers, IMAGE


def test_the_image_runs_as_non_root_from_the_service_pex(image: tuple[Containers, str]) -> None:
    containers, tag = image
    (config,) = json.loads(containers.podman("image", "inspect", tag).stdout)
    assert config["Config"]["User"] == "10001:10001"
    assert config["Config"]["Entrypoint"] == ["/app/pex"]
    assert PEX.exists()


async def test_the_image_starts_read_only_and_answers_its_health_check(
    image: tuple[Containers, str], postgres_dsn: str, kafka_bootstrap: str, topic_prefix: str
) -> None:
    containers, tag = image
    grpc_port, metrics_port = free_port(), free_port()
    name = f"tessera-{SERVICE}-{uuid.uuid4().hex[:6]}"
    env = {
        "TESSERA_POSTGRES_DSN": postgres_dsn,
        "TESSERA_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "TESSERA_KAFKA_TOPIC_PREFIX": topic_prefix,
        "TESSERA_GRPC_HOST": "127.0.0.1",
        "TESSERA_GRPC_PORT": str(grpc_port),
        "TESSERA_METRICS_PORT": str(metrics_port),
    }
    started = containers.podman(
        "run", "--detach", "--name", name, "--network", "host", "--read-only", "--tmpfs", "/tmp",
        "--user", "10001:10001", "--cap-drop", "ALL", "--security-opt", "no-new-privileges",
        "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024",
        *(f"--env={key}={value}" for key, value in env.items()), tag,
    )  # fmt: skip
    assert started.returncode == 0, started.stderr
    try:
        began = time.monotonic()
        status = ""
        async with grpc.aio.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
            while status != "SERVING" and time.monotonic() - began < 60:
                try:
                    status = await check_health(channel, "payments.v1.PaymentsService", timeout=1)
                except grpc.aio.AioRpcError:
                    await asyncio.sleep(0.5)
        logs = containers.podman("logs", name)
        assert status == "SERVING", logs.stdout[-3000:] + logs.stderr[-3000:]
        async with httpx.AsyncClient() as http:
            metrics = await http.get(f"http://127.0.0.1:{metrics_port}/metrics")
        assert "grpc_server_started_total" in metrics.text
        assert '"service": "payments"' in logs.stdout + logs.stderr  # JSON logs on stdout, for Fluent Bit
    finally:
        containers.podman("rm", "--force", name)
