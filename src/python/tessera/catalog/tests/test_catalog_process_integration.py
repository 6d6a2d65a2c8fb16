"""The catalog as its own process, the way it is deployed: env config, JSON logs, /metrics, health, SIGTERM."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request

import grpc
import pytest

from catalog.v1 import catalog_pb2, catalog_pb2_grpc
from tessera.catalog import main as catalog_main
from tessera.kit.grpc_client import check_health
from tessera.localinfra.process import free_port

pytestmark = pytest.mark.integration


async def wait_healthy(port: int, proc: asyncio.subprocess.Process, timeout: float = 60.0) -> float:
    started = time.monotonic()
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        while time.monotonic() - started < timeout:
            if proc.returncode is not None:
                output = (await proc.stdout.read()).decode() if proc.stdout else ""
                raise AssertionError(f"the catalog exited during start-up:\n{output}")
            try:
                if await check_health(channel, "catalog.v1.CatalogService", timeout=0.5) == "SERVING":
                    return time.monotonic() - started
            except grpc.aio.AioRpcError:
                pass
            await asyncio.sleep(0.05)
    raise AssertionError("the catalog did not become healthy")


def read_metrics(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        return str(response.read().decode())


async def test_catalog_process_starts_healthy_logs_json_serves_metrics_and_stops_on_sigterm(
    postgres_dsn: str, redis_url: str, kafka_bootstrap: str, topic_prefix: str
) -> None:
    grpc_port, metrics_port = free_port(), free_port()
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(sys.path),
        "TESSERA_POSTGRES_DSN": postgres_dsn,
        "TESSERA_REDIS_URL": redis_url,
        "TESSERA_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "TESSERA_KAFKA_TOPIC_PREFIX": topic_prefix,
        "TESSERA_GRPC_PORT": str(grpc_port),
        "TESSERA_METRICS_PORT": str(metrics_port),
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", catalog_main.__name__, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        seconds = await wait_healthy(grpc_port, proc)
        print(f"\ncatalog process start -> healthy: {seconds:.2f} s")

        async with grpc.aio.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
            stub = catalog_pb2_grpc.CatalogServiceStub(channel)
            await stub.CreateProduct(
                catalog_pb2.CreateProductRequest(sku="P-1", name="Pen", price_cents=150, currency="EUR")
            )
            # A name the database cannot store (a NUL): refused with INVALID_ARGUMENT, and logged with the call's
            # request id (the caller's own, sent as x-request-id).
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await stub.CreateProduct(
                    catalog_pb2.CreateProductRequest(sku="P-2", name="Pen\x00", price_cents=150, currency="EUR"),
                    metadata=(("x-request-id", "req-nul-1"),),
                )
            assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        exposition = await asyncio.to_thread(read_metrics, metrics_port)
        labels = 'grpc_code="OK",grpc_method="CreateProduct",grpc_service="catalog.v1.CatalogService"'
        assert f"grpc_server_handled_total{{{labels}}} 1.0" in exposition

        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), timeout=20) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    output = (await proc.stdout.read()).decode() if proc.stdout else ""
    lines = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    assert lines, output
    assert all(line["service"] == "catalog" for line in lines)
    events = [line["event"] for line in lines]
    assert "service started" in events
    assert events[-1] == "service stopped"
    rpc_lines = [line for line in lines if line.get("rpc") == "CreateProduct"]
    assert [line["request_id"] for line in rpc_lines] == ["req-nul-1"], rpc_lines
