"""One order is one trace: REST -> gRPC -> outbox -> Kafka -> faust -> gRPC -> Postgres/Redis, exported over OTLP
to a real receiver; its trace id is in the services' JSON logs; the gateway shows the whole platform's health."""

from __future__ import annotations

import asyncio
import json
import secrets
import time
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
import pytest_asyncio
from e2e.platform_fixtures import Clients, platform_clients
from orders.v1 import orders_pb2

from tessera.localinfra import InfraEndpoints
from tessera.testing.events import every_record
from tessera.testing.otlp import ReceivedSpan, TraceCollector, otlp_receiver
from tessera.topology import registry

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]

SERVICES = set(registry().names)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def traced(
    infra: InfraEndpoints, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[tuple[Clients, TraceCollector]]:
    async with otlp_receiver() as (endpoint, collector):
        async for clients in platform_clients(
            infra, tmp_path_factory.mktemp("traced-logs"), {"TESSERA_OTLP_ENDPOINT": endpoint}
        ):
            yield clients, collector


async def test_one_order_is_one_trace_across_every_hop(traced: tuple[Clients, TraceCollector]) -> None:
    clients, collector = traced
    product = await clients.product(price_cents=700, stock=5)
    trace_id = secrets.token_hex(16)
    customer = f"traced-{uuid.uuid4().hex[:6]}"
    body = {"items": [{"product_id": product, "quantity": 1}], "card_token": "tok_visa"}
    headers = {"Idempotency-Key": str(uuid.uuid4()), "traceparent": f"00-{trace_id}-{secrets.token_hex(8)}-01"}
    async with clients.platform.api(customer, timeout=10) as api:
        placed = await api.post("/v1/orders", json=body, headers=headers)
        assert placed.status_code == 202, placed.text
    (order,) = await clients.settled(placed.json()["order_id"])
    assert order.status == orders_pb2.ORDER_STATUS_CONFIRMED

    # Spans arrive in batches (every 0.5 s per service, each its own), so a server span can be in before the client
    # span that is its parent: wait (bounded) until every service is in and only the gateway's span is a root.
    deadline = time.monotonic() + 20
    while not _complete(collector.of_trace(trace_id)) and time.monotonic() < deadline:
        await asyncio.sleep(0.5)
    spans = collector.of_trace(trace_id)
    assert {s.service for s in spans} == SERVICES

    names = {(s.service, s.span.name.lstrip("/")) for s in spans}
    assert ("orders", "orders.v1.OrdersService/PlaceOrder") in names
    assert ("saga", "inventory.v1.InventoryService/Reserve") in names  # the saga's client call
    assert ("payments", "payments.v1.PaymentsService/Capture") in names
    kinds = {(s.service, s.kind) for s in spans}
    assert ("orders", "SPAN_KIND_PRODUCER") in kinds  # outbox relay publishing OrderPlaced
    assert ("saga", "SPAN_KIND_CONSUMER") in kinds and ("projections", "SPAN_KIND_CONSUMER") in kinds
    assert any(s.attribute("db.system") == "postgresql" for s in spans)  # asyncpg in the services
    assert any(s.attribute("db.system") == "redis" for s in spans)  # the catalog's cache, pricing the order
    assert any(s.service == "projections" and s.attribute("db.system") == "mongodb" for s in spans)  # the views
    # One trace, one root: the gateway's server span, child of the caller's traceparent.
    roots = _roots(spans)
    assert [r.service for r in roots] == ["gateway"], [(r.service, r.span.name) for r in roots]

    # The logs of work done for this order carry its trace id, as JSON lines ready for Fluent Bit.
    saga_log = (clients.platform.log_dir / "saga.log").read_text().splitlines()
    records = [json.loads(line) for line in saga_log if line.startswith("{")]
    assert records and all("service" in record and "timestamp" in record for record in records)
    mine = [r for r in records if r.get("trace_id") == trace_id]
    assert any(r["event"] == "saga finished" and r["order_id"] == order.order_id for r in mine)


def _roots(spans: list[ReceivedSpan]) -> list[ReceivedSpan]:
    span_ids = {s.span.span_id for s in spans}
    return [s for s in spans if s.span.parent_span_id not in span_ids]


def _complete(spans: list[ReceivedSpan]) -> bool:
    return {s.service for s in spans} == SERVICES and [r.service for r in _roots(spans)] == ["gateway"]


async def test_gateway_shows_the_whole_platform_and_each_service_its_dependencies(
    traced: tuple[Clients, TraceCollector],
) -> None:
    clients, _ = traced
    async with httpx.AsyncClient(base_url=clients.platform.http_url("gateway"), timeout=10) as api:
        reply = await api.get("/v1/platform/health")
    assert reply.status_code == 200, reply.text
    report = reply.json()
    assert report["healthy"] is True
    assert set(report["services"]) == SERVICES
    kinds = {
        name: {d["name"]: d["kind"] for d in service["dependencies"]} for name, service in report["services"].items()
    }
    # Each service reports what the registry says it uses and calls, each by its registry name.
    for service in registry().services:
        calls = {callee: "grpc" for callee in service.calls}
        assert kinds[service.name] == {store: store for store in service.stores} | calls, service.name
    saga_payments = next(d for d in report["services"]["saga"]["dependencies"] if d["name"] == "payments")
    assert saga_payments["breaker"] == "closed" and saga_payments["healthy"] is True

    # One dependency down: the service that needs it says so, with the reason; the platform is not healthy.
    clients.platform.pause("payments")
    try:
        async with httpx.AsyncClient(base_url=clients.platform.http_url("gateway"), timeout=10) as api:
            reply = await api.get("/v1/platform/health")
    finally:
        clients.platform.resume("payments")
    report = reply.json()
    assert reply.status_code == 503 and report["healthy"] is False
    assert report["services"]["payments"]["reachable"] is False
    saga_payments = next(d for d in report["services"]["saga"]["dependencies"] if d["name"] == "payments")
    assert saga_payments["healthy"] is False and saga_payments["detail"]


async def test_no_card_token_is_stored_published_logged_or_traced(traced: tuple[Clients, TraceCollector]) -> None:
    """Orders paid with a recognisable card token; then every place a copy could hide is searched for it."""
    clients, collector = traced
    product = await clients.product(price_cents=300, stock=10)
    token = f"tok_scan_{uuid.uuid4().hex}"
    trace_id = secrets.token_hex(16)
    body = {"items": [{"product_id": product, "quantity": 1}], "card_token": token}
    placement = """mutation($key: String!, $product: String!, $card: String!) {
      placeOrder(idempotencyKey: $key, items: [{productId: $product, quantity: 1}], cardToken: $card) { orderId }
    }"""
    async with clients.platform.api("scan", timeout=10) as api:
        order_ids = []
        for n in range(3):
            headers = {"Idempotency-Key": str(uuid.uuid4())}
            if n == 0:
                headers["traceparent"] = f"00-{trace_id}-{secrets.token_hex(8)}-01"
            placed = await api.post("/v1/orders", json=body, headers=headers)
            assert placed.status_code == 202, placed.text
            order_ids.append(placed.json()["order_id"])
        variables = {"key": str(uuid.uuid4()), "product": product, "card": token}
        via_graphql = (await api.post("/graphql", json={"query": placement, "variables": variables})).json()
        order_ids.append(via_graphql["data"]["placeOrder"]["orderId"])
    finals = await clients.settled(*order_ids)
    assert {o.status for o in finals} == {orders_pb2.ORDER_STATUS_CONFIRMED}
    deadline = time.monotonic() + 20  # the first order's spans, from every service, have arrived
    while not _complete(collector.of_trace(trace_id)) and time.monotonic() < deadline:
        await asyncio.sleep(0.5)
    assert _complete(collector.of_trace(trace_id))

    found: dict[str, int] = {}
    for service in ("orders", "saga", "payments", "inventory", "catalog"):
        found.update(await _rows_holding(clients, service, token))
    found.update(await _documents_holding(clients, "projections", token))
    records = await every_record(clients.platform.infra.kafka_bootstrap, clients.platform.topic_prefix)
    assert records  # the orders' events are there to be searched
    found["kafka"] = sum(token.encode() in record for record in records)
    logs = list(clients.platform.log_dir.glob("*.log"))
    assert len(logs) == len(SERVICES)  # every service's log is searched
    found["logs"] = sum(token in path.read_text() for path in logs)
    found["traces"] = sum(token.encode() in s.span.SerializeToString() for s in collector.spans)
    assert not any(found.values()), found


async def _documents_holding(clients: Clients, service: str, token: str) -> dict[str, int]:
    """Documents of every collection of the service's database (its read models) whose content holds the token."""
    views = clients.documents(service)
    try:
        counts = {}
        for collection in await views.list_collection_names():
            held = [d for d in await views[collection].find({}).to_list() if token in repr(d)]
            counts[f"{service}.{collection}"] = len(held)
        assert counts, "the read models were searched"
        return counts
    finally:
        await views.client.close()


async def _rows_holding(clients: Clients, service: str, token: str) -> dict[str, int]:
    """Rows of every table of the service's database whose text (bytea shown as hex) holds the token."""
    conn = await clients.db(service)
    try:
        tables = await conn.fetch(
            "SELECT table_name FROM information_schema.tables"
            " WHERE table_schema = 'public' AND table_type = 'BASE TABLE'"
        )
        counts = {}
        for (table,) in tables:
            counts[f"{service}.{table}"] = await conn.fetchval(
                f'SELECT count(*) FROM "{table}" AS t WHERE strpos(t::text, $1) > 0 OR strpos(t::text, $2) > 0',
                token,
                token.encode().hex(),
            )
        return counts
    finally:
        await conn.close()
