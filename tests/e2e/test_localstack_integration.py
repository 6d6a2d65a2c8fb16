"""The README's first command, as a test: the local stack comes up from nothing, serves, stops, and comes back."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
import uuid
from asyncio import FIRST_COMPLETED
from pathlib import Path

import grpc
import httpx
import pytest
from aiokafka import AIOKafkaProducer
from orders.v1 import events_pb2

from catalog.v1 import catalog_pb2, catalog_pb2_grpc
from tessera.kit.events import make_envelope
from tessera.localinfra.jaeger import JAEGER
from tessera.localinfra.process import port_open
from tessera.localstack.demo import DEMO_PRODUCTS
from tessera.localstack.stack import LocalStack, run
from tessera.tools import tokens as token_tool
from tessera.topology import registry, topic_of

pytestmark = pytest.mark.integration


async def _run_until_up(
    state_dir: Path, *, one_process: bool = False
) -> tuple[asyncio.Task[None], asyncio.Event, dict[str, int]]:
    stop, up = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(run(state_dir, stop, up=up, one_process=one_process))
    waiting = asyncio.create_task(up.wait())
    done, _ = await asyncio.wait({task, waiting}, timeout=180, return_when=FIRST_COMPLETED)
    waiting.cancel()
    if task in done:
        task.result()  # raises what stopped it
        pytest.fail("the stack stopped before it was up")
    assert up.is_set(), "the stack was not up within 180 s"
    return task, stop, json.loads((state_dir / "ports.json").read_text())


async def _catalog_stub(port: int) -> tuple[grpc.aio.Channel, catalog_pb2_grpc.CatalogServiceAsyncStub]:
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    await asyncio.wait_for(channel.channel_ready(), 30)
    return channel, catalog_pb2_grpc.CatalogServiceStub(channel)


async def _traced(jaeger_port: int, service: str, operation: str) -> set[str]:
    """The service's traced operations in the stack's Jaeger, once one names `operation` (spans are batched)."""
    seen: set[str] = set()
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{jaeger_port}", timeout=5) as client:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(30):
                while not any(operation in name for name in seen):
                    await asyncio.sleep(0.5)
                    reply = (await client.get("/api/traces", params={"service": service, "limit": 50})).json()
                    seen = {span["operationName"] for trace in reply["data"] or [] for span in trace["spans"]}
    return seen


async def _token_tool(*args: str) -> str:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    tool = await asyncio.create_subprocess_exec(
        sys.executable, "-m", token_tool.__name__, *args, env=env, stdout=subprocess.PIPE
    )
    out, _ = await tool.communicate()
    assert tool.returncode == 0
    return out.decode().strip()


async def _demo_products_are_there_once_and_orderable(api: httpx.AsyncClient, token: str) -> None:
    """What a new user's first curl finds: the demo products, in stock (each once, after two runs)."""
    auth = {"Authorization": f"Bearer {token}"}
    listed = (await api.get("/v1/products", params={"page_size": 100}, headers=auth)).json()["products"]
    demo = [product for product in listed if product["sku"].startswith("DEMO-")]
    assert sorted(product["sku"] for product in demo) == sorted(product.sku for product in DEMO_PRODUCTS)
    mug = next(product["product_id"] for product in demo if product["sku"] == "DEMO-MUG")
    body = {"items": [{"product_id": mug, "quantity": 1}], "card_token": "tok_visa"}
    placed = await api.post("/v1/orders", json=body, headers={**auth, "Idempotency-Key": "demo-1"})
    assert placed.status_code == 202, placed.text
    order_url = f"/v1/orders/{placed.json()['order_id']}"
    async with asyncio.timeout(30):
        while (status := (await api.get(order_url, headers=auth)).json()["status"]) == "pending":
            await asyncio.sleep(0.2)
    assert status == "confirmed"


async def test_stack_serves_stops_cleanly_and_keeps_its_data_across_runs(tmp_path: Path) -> None:
    state_dir = tmp_path / "stack"
    await asyncio.to_thread(JAEGER.path)  # built once into the cache on a fresh machine (minutes), not timed here
    task, stop, ports = await _run_until_up(state_dir)
    try:
        channel, stub = await _catalog_stub(ports["catalog_grpc"])
        created = await stub.CreateProduct(
            catalog_pb2.CreateProductRequest(sku="E2E-1", name="Lamp", price_cents=4500, currency="EUR"),
            wait_for_ready=True,
        )
        await channel.close()
        traced = await _traced(ports["jaeger_query_http"], "catalog", "CreateProduct")
        assert any("CreateProduct" in operation for operation in traced), traced
    finally:  # a failed check must not leave the stack running
        stop.set()
        await asyncio.wait_for(task, 60)
    for name in ("postgres", "redis", "kafka", "prometheus", "jaeger_query_http", "catalog_grpc", "gateway_http"):
        assert not port_open(ports[name]), f"{name} still listening after stop"
    assert json.loads((state_dir / "flags.json").read_text())["flags"]  # the flag file services follow

    task, stop, ports_again = await _run_until_up(state_dir)
    try:
        assert ports_again == ports
        channel, stub = await _catalog_stub(ports["catalog_grpc"])
        again = await stub.GetProduct(catalog_pb2.GetProductRequest(product_id=created.product_id), wait_for_ready=True)
        assert again.sku == "E2E-1"
        await channel.close()
        # The token tool signs with the stack's issuer key (kept across runs): its tokens are accepted.
        token = await _token_tool("--customer", "c-1", "--state-dir", str(state_dir))
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{ports['gateway_http']}", timeout=10) as api:
            assert (await api.get(f"/v1/products/{created.product_id}")).status_code == 401
            with_token = await api.get(
                f"/v1/products/{created.product_id}", headers={"Authorization": f"Bearer {token}"}
            )
            assert with_token.status_code == 200, with_token.text
            await _demo_products_are_there_once_and_orderable(api, token)
    finally:
        stop.set()
        await asyncio.wait_for(task, 60)


def _series(exposition: str, metric: str) -> list[str]:
    return [line for line in exposition.splitlines() if line.startswith((f"{metric}{{", f"{metric} "))]


async def test_in_one_process_each_service_keeps_its_own_metrics_spans_and_log_name(tmp_path: Path) -> None:
    """`localstack:up -- --one-process`: one Python process serves every service on its own ports; an order goes
    through; each service's metrics endpoint has its own series only, Jaeger and the log tell the services apart."""
    state_dir = tmp_path / "stack"
    await asyncio.to_thread(JAEGER.path)
    task, stop, ports = await _run_until_up(state_dir, one_process=True)
    try:
        token = await _token_tool("--customer", "c-1", "--state-dir", str(state_dir))
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{ports['gateway_http']}", timeout=10) as api:
            await _demo_products_are_there_once_and_orderable(api, token)
        async with httpx.AsyncClient(timeout=5) as http:
            metrics = {
                name: (await http.get(f"http://127.0.0.1:{ports[f'{name}_metrics']}/metrics")).text
                for name in registry().names
            }
        started_at = {_series(exposition, "process_start_time_seconds")[0] for exposition in metrics.values()}
        assert len(started_at) == 1, f"the services run in more than one process: {started_at}"
        for name, exposition in metrics.items():
            assert _series(exposition, "service_info") == [f'service_info{{service="{name}",version="dev"}} 1.0'], name
            served = {
                line.split('grpc_service="')[1].split('"')[0]
                for line in _series(exposition, "grpc_server_handled_total")
            }
            assert served <= {"grpc.health.v1.Health", "ops.v1.DependencyHealthService", *_own_api(name)}, (
                name,
                served,
            )
        assert any(
            'grpc_method="PlaceOrder"' in line for line in _series(metrics["orders"], "grpc_server_handled_total")
        )
        assert _series(metrics["saga"], "saga_outcomes_total"), "the saga's own metric is on the saga's endpoint"
        assert not _series(metrics["orders"], "saga_outcomes_total")
        # Two callers of orders (the gateway, the saga), each with its own breaker.
        assert _series(metrics["gateway"], "circuit_breaker_state") and _series(
            metrics["saga"], "circuit_breaker_state"
        )
        for name, operation in (("gateway", "POST /v1/orders"), ("orders", "PlaceOrder"), ("saga", "process")):
            traced = await _traced(ports["jaeger_query_http"], name, operation)
            assert any(operation in op for op in traced), (name, traced)
    finally:
        stop.set()
        await asyncio.wait_for(task, 60)
    lines = [
        json.loads(line)
        for line in (state_dir / "logs" / "platform.log").read_text().splitlines()
        if line.startswith("{")
    ]
    started = {line["service"] for line in lines if line["event"] == "service started"}
    assert started == set(registry().names)


def _own_api(name: str) -> set[str]:
    return {registry()[name].grpc_api} - {""}


async def test_one_service_runs_for_real_against_mocks_of_the_services_it_calls(tmp_path: Path) -> None:
    """`localstack:up -- --only saga --mock-others`: the saga on real PostgreSQL and Kafka, its peers mocked."""
    answers = {
        "inventory": {"Reserve": {"status": "RESERVATION_STATUS_RESERVED"}, "Commit": {}},
        "payments": {"Authorize": {"paymentId": "pay-1", "status": "PAYMENT_STATUS_AUTHORIZED"}, "Capture": {}},
        "orders": {"ConfirmOrder": {"status": "ORDER_STATUS_CONFIRMED"}},
    }
    stack = LocalStack(tmp_path / "stack", only=["saga"], mock_others=True, mock_answers=answers)
    assert (stack.real, sorted(stack.mocks)) == (["saga"], ["inventory", "orders", "payments"])
    await stack.start()
    try:
        placed = events_pb2.OrderPlaced(
            order_id=str(uuid.uuid4()), customer_id="c-1", total_cents=1200, currency="EUR", payment_method_id="pm-1"
        )
        placed.lines.add(product_id=str(uuid.uuid4()), quantity=1, unit_price_cents=1200)
        envelope = make_envelope(
            placed, aggregate_type="order", aggregate_id=placed.order_id, aggregate_version=1, producer="test"
        )
        producer = AIOKafkaProducer(bootstrap_servers=stack.infra.endpoints.kafka_bootstrap)
        await producer.start()
        try:
            await producer.send_and_wait(topic_of("orders"), envelope.SerializeToString(), key=placed.order_id.encode())
        finally:
            await producer.stop()
        commits = stack.mocks["inventory"].on("Commit").requests
        async with asyncio.timeout(60):
            while not commits:
                await asyncio.sleep(0.2)
        assert commits[0].order_id == placed.order_id
        assert stack.mocks["orders"].calls() == ["ConfirmOrder"]
        assert sorted(stack.mocks["payments"].calls()) == ["Authorize", "Capture"]
        assert all(not mock.violations for mock in stack.mocks.values())
        assert set(stack.platform.running) == {"saga"}
    finally:
        await stack.stop()
