"""Chaos on the running platform, each fault under an order load: crashes, a Kafka outage, a Postgres restart, a
document store restart, a hung dependency. Every test states its bound and reports sent / confirmed / compensated /
lost and recovery times (printed, and kept in $TESSERA_REPORT_DIR/chaos.jsonl when set; .ci/run prints them).

The platform runs on servers of its own (not the session's), since these tests stop and restart them.
"""

from __future__ import annotations

import asyncio
import re
import signal
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import grpc
import httpx
import pytest
import pytest_asyncio
from inventory.v1 import inventory_pb2, inventory_pb2_grpc
from orders.v1 import orders_pb2, orders_pb2_grpc
from payments.v1 import payments_pb2, payments_pb2_grpc

from catalog.v1 import catalog_pb2, catalog_pb2_grpc
from tessera.kit.documents import create_mongo
from tessera.localinfra import LocalInfra
from tessera.localstack.platform import Platform
from tessera.projections.projectors import ORDER_SUMMARIES
from tessera.testing.chaos import OrderLoad, effects_applied_once, report, settle, summary_ms
from tessera.topology import registry

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]

CHAOS_ENV = {
    # Short saga timings and a fast breaker, so that each fault plays out within seconds.
    "TESSERA_STEP_TIMEOUT_SECONDS": "3",
    "TESSERA_LEASE_SECONDS": "3",
    "TESSERA_RESUME_EVERY_SECONDS": "0.5",
    "TESSERA_CALL_TIMEOUT_SECONDS": "1",
    "TESSERA_BREAKER_RESET_SECONDS": "2",
    "TESSERA_RATE_LIMIT": "100/second",  # the load stays far below; a limit on, as in production
}
SETTLE_BOUND_SECONDS = 90.0  # every accepted order is confirmed or compensated within this, after the fault
INITIAL_STOCK = 1_000_000


@dataclass
class Chaos:
    infra: LocalInfra
    platform: Platform
    api: httpx.AsyncClient

    def dsn(self, service: str) -> str:
        return f"{self.platform.infra.postgres_dsn.rpartition('/')[0]}/{self.platform.database_prefix}{service}"

    async def product(self) -> str:
        async with grpc.aio.insecure_channel(self.platform.grpc_address("catalog")) as channel:
            created = await catalog_pb2_grpc.CatalogServiceStub(channel).CreateProduct(
                catalog_pb2.CreateProductRequest(
                    sku=f"CHAOS-{uuid.uuid4().hex[:8]}", name="Chaos", price_cents=500, currency="EUR"
                )
            )
        async with grpc.aio.insecure_channel(self.platform.grpc_address("inventory")) as channel:
            await inventory_pb2_grpc.InventoryServiceStub(channel).SetStock(
                inventory_pb2.SetStockRequest(product_id=created.product_id, on_hand=INITIAL_STOCK)
            )
        return created.product_id

    async def payment_method(self, key: str) -> tuple[str, str]:
        """(key, payment method id): a card exchanged at payments ahead of time, as a saved payment method."""
        async with grpc.aio.insecure_channel(self.platform.grpc_address("payments")) as channel:
            method = await payments_pb2_grpc.PaymentsServiceStub(channel).RegisterPaymentMethod(
                payments_pb2.RegisterPaymentMethodRequest(idempotency_key=key, customer_id="chaos", card_token="tok_ok")
            )
        return key, method.payment_method_id

    async def place_directly(self, product_id: str, key: str, method_id: str) -> orders_pb2.Order:
        """An order placed with the orders service itself, paying with a method exchanged before."""
        async with grpc.aio.insecure_channel(self.platform.grpc_address("orders")) as channel:
            return await orders_pb2_grpc.OrdersServiceStub(channel).PlaceOrder(
                orders_pb2.PlaceOrderRequest(
                    idempotency_key=key,
                    customer_id="chaos",
                    items=[orders_pb2.PlaceOrderRequest.Item(product_id=product_id, quantity=1)],
                    payment_method_id=method_id,
                ),
                timeout=5,
            )

    async def probe(self, product_id: str, timeout: float = 60.0) -> float:
        """Seconds until a new order is placed and confirmed end to end: the platform works again.

        An order rejected meanwhile (its saga met the tail of the fault) does not count: the probe places another.
        """
        started = time.monotonic()
        key = f"probe-{uuid.uuid4()}"
        body = {"items": [{"product_id": product_id, "quantity": 1}], "card_token": "tok_ok"}
        while time.monotonic() - started < timeout:
            try:
                placed = await self.api.post("/v1/orders", json=body, headers={"Idempotency-Key": key})
                if placed.status_code == 202:
                    order = await self.api.get(f"/v1/orders/{placed.json()['order_id']}")
                    status = order.json().get("status") if order.status_code == 200 else None
                    if status == "confirmed":
                        return round(time.monotonic() - started, 2)
                    if status in ("rejected", "cancelled"):
                        key = f"probe-{uuid.uuid4()}"
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.2)
        raise AssertionError(f"no order confirmed within {timeout} s of the recovery")

    async def metric(self, service: str, name: str, labels: str) -> float | None:
        """One sample of a service's /metrics: metric("saga", "circuit_breaker_state", 'dependency="payments"')."""
        port = self.platform.ports[f"{service}_metrics"]
        async with httpx.AsyncClient(timeout=2) as http:
            text = (await http.get(f"http://127.0.0.1:{port}/metrics")).text
        match = re.search(rf"^{name}\{{{labels}\}} (\S+)$", text, re.MULTILINE)
        return float(match.group(1)) if match else None

    async def outbox_backlog(self) -> int:
        conn = await asyncpg.connect(self.dsn("orders"))
        try:
            return int(await conn.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL"))
        finally:
            await conn.close()

    async def unfinished_sagas(self) -> int:
        conn = await asyncpg.connect(self.dsn("saga"))
        try:
            return int(await conn.fetchval("SELECT count(*) FROM sagas WHERE finished_at IS NULL"))
        finally:
            await conn.close()

    async def projected(self, load: OrderLoad, timeout: float = 60.0) -> float:
        """Waits (bounded) until the read model shows every order of the load in its final status, as the orders
        service has it; returns the seconds it took. A projection lost (an event consumed and not applied) fails."""
        conn = await asyncpg.connect(self.dsn("orders"))
        try:
            rows = await conn.fetch(
                "SELECT k.order_id, (SELECT e.event_type FROM event_store e WHERE e.stream_id = k.order_id"
                " ORDER BY e.version DESC LIMIT 1) AS event FROM order_idempotency_keys k"
                " WHERE k.idempotency_key = ANY($1::text[])",
                load.keys,
            )
        finally:
            await conn.close()
        expected = {row["order_id"]: row["event"].rsplit(".", 1)[-1].removeprefix("Order").lower() for row in rows}
        client = create_mongo(self.platform.infra.mongo_url, app_name="chaos")
        summaries = client[f"{self.platform.database_prefix}projections"][ORDER_SUMMARIES]
        started = time.monotonic()
        try:
            while True:
                shown = {
                    d["_id"]: d["status"] async for d in summaries.find({"_id": {"$in": list(expected)}}, {"status": 1})
                }
                if shown == expected:
                    return round(time.monotonic() - started, 2)
                if time.monotonic() - started > timeout:
                    missing = {k: (v, shown.get(k)) for k, v in expected.items() if shown.get(k) != v}
                    raise AssertionError(f"{len(missing)} orders not (or wrongly) in the read model: {missing}")
                await asyncio.sleep(0.5)
        finally:
            await client.close()

    async def conclude(self, name: str, load: OrderLoad, product_id: str, figures: dict[str, object]) -> None:
        """Waits for every order to end, checks nothing was lost or applied twice, and reports the figures."""
        outcome = await settle(load, self.dsn("orders"), timeout=SETTLE_BOUND_SECONDS)
        report(name, {"outcome": outcome, **figures})
        assert outcome.lost == 0, f"{outcome.lost} accepted orders never ended"
        assert outcome.accepted == outcome.confirmed + outcome.compensated
        assert outcome.confirmed > 0
        assert outcome.accepted >= 0.9 * outcome.sent, "most orders should get through once the fault is over"
        # An order is final once confirmed; its saga still captures the payment. Every saga ends within the bound.
        deadline = time.monotonic() + SETTLE_BOUND_SECONDS
        while await self.unfinished_sagas() and time.monotonic() < deadline:
            await asyncio.sleep(0.5)
        assert await self.unfinished_sagas() == 0
        await effects_applied_once(self.dsn("inventory"), self.dsn("payments"), product_id, INITIAL_STOCK)
        assert not self.platform.exited(), f"services died: {self.platform.exited()}"


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def chaos(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Chaos]:
    infra = LocalInfra()
    await asyncio.to_thread(infra.start)
    prefix = f"c{uuid.uuid4().hex[:8]}_"
    log_dir: Path = tmp_path_factory.mktemp("chaos-logs")
    platform = Platform(
        infra.endpoints, log_dir, database_prefix=prefix, topic_prefix=f"{prefix}.", extra_env=CHAOS_ENV
    )
    try:
        await platform.start_all()
        async with platform.api("chaos", timeout=5) as api:
            yield Chaos(infra, platform, api)
    finally:
        await platform.stop_all()
        await asyncio.to_thread(infra.stop)


async def test_kill_9_each_service_in_turn_loses_no_order(chaos: Chaos) -> None:
    product = await chaos.product()
    recoveries: dict[str, dict[str, float]] = {}
    async with OrderLoad(
        chaos.platform.http_url("gateway"), product, rate=4, headers=chaos.platform.auth_headers("chaos")
    ) as load:
        await asyncio.sleep(2)
        for spec in registry().services:
            killed = time.monotonic()
            await chaos.platform.stop(spec.name, signal.SIGKILL)
            await asyncio.sleep(1)  # down for a moment, as while Kubernetes restarts a container
            healthy = await chaos.platform.restart(spec.name)
            await chaos.probe(product)
            recoveries[spec.name] = {
                "restart_to_healthy_s": round(healthy, 2),
                "kill_to_order_confirmed_s": round(time.monotonic() - killed, 2),
            }
    await chaos.conclude("kill -9 each service", load, product, {"recoveries": recoveries})


async def test_kafka_outage_is_held_in_the_outbox_and_delivered_after(chaos: Chaos) -> None:
    product = await chaos.product()
    backlog_peak = 0
    async with OrderLoad(
        chaos.platform.http_url("gateway"), product, rate=4, headers=chaos.platform.auth_headers("chaos")
    ) as load:
        await asyncio.sleep(2)
        await asyncio.to_thread(chaos.infra.kafka.stop)
        outage_started = time.monotonic()
        while time.monotonic() - outage_started < 10:
            backlog_peak = max(backlog_peak, await chaos.outbox_backlog())
            await asyncio.sleep(1)
        await asyncio.to_thread(chaos.infra.kafka.start)
        restarted = time.monotonic()
        recovery = await chaos.probe(product, timeout=90)
        await asyncio.sleep(2)
    assert backlog_peak > 0, "orders placed during the outage should wait in the outbox"
    await chaos.conclude(
        "Kafka stopped for 10 s",
        load,
        product,
        {
            "outbox_backlog_peak": backlog_peak,
            "kafka_back_to_order_confirmed_s": round(time.monotonic() - restarted - 2, 2),
            "probe_s": recovery,
        },
    )
    # Everything written is delivered (the relay may still be sending the very last events of the run).
    deadline = time.monotonic() + 15
    while await chaos.outbox_backlog() and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
    assert await chaos.outbox_backlog() == 0


async def test_postgres_restart_services_reconnect_by_themselves(chaos: Chaos) -> None:
    product = await chaos.product()
    async with OrderLoad(
        chaos.platform.http_url("gateway"), product, rate=4, headers=chaos.platform.auth_headers("chaos")
    ) as load:
        await asyncio.sleep(2)
        await asyncio.to_thread(chaos.infra.postgres.stop, fast=True)
        await asyncio.sleep(3)
        await asyncio.to_thread(chaos.infra.postgres.start)
        restarted = time.monotonic()
        recovery = await chaos.probe(product)
        await asyncio.sleep(2)
    await chaos.conclude(
        "Postgres restarted (3 s down)",
        load,
        product,
        {"postgres_back_to_order_confirmed_s": round(time.monotonic() - restarted - 2, 2), "probe_s": recovery},
    )
    await chaos.projected(load)  # FerretDB keeps the read models on that PostgreSQL: it reconnects too


async def test_document_store_restart_loses_no_projection(chaos: Chaos) -> None:
    """The MongoDB-protocol server (FerretDB) stops for 3 s under load: the projections wait it out (their batch
    retried, their offsets not committed), and every order ends up in the read model in its final status."""
    product = await chaos.product()
    async with OrderLoad(
        chaos.platform.http_url("gateway"), product, rate=4, headers=chaos.platform.auth_headers("chaos")
    ) as load:
        await asyncio.sleep(2)
        await asyncio.to_thread(chaos.infra.mongo.stop)
        await asyncio.sleep(3)
        await asyncio.to_thread(chaos.infra.mongo.start)
        restarted = time.monotonic()
        recovery = await chaos.probe(product)
        await asyncio.sleep(2)
    await chaos.conclude("document store restarted (3 s down)", load, product, {"probe_s": recovery})
    caught_up = await chaos.projected(load)
    report(
        "document store restarted: the read model",
        {"orders": len(load.accepted), "back_to_all_projected_s": round(time.monotonic() - restarted, 2),
         "projected_after_settle_s": caught_up},
    )  # fmt: skip


async def test_hung_payments_opens_the_sagas_breaker_and_it_closes_after_recovery(chaos: Chaos) -> None:
    """Payments hangs for 8 s. Placing an order needs payments (it exchanges the card for a payment method), so
    the gateway fails those fast (its breaker, 503 + Retry-After) and the load retries them; orders whose card was
    exchanged before the hang (a saved payment method) are placed meanwhile, and their sagas open the saga's
    breaker on payments. After recovery both breakers close, and no order is lost."""
    product = await chaos.product()
    breaker = 'dependency="payments"'
    saved = [await chaos.payment_method(f"saved-{n}-{uuid.uuid4()}") for n in range(40)]
    async with OrderLoad(
        chaos.platform.http_url("gateway"), product, rate=4, headers=chaos.platform.auth_headers("chaos")
    ) as load:
        await asyncio.sleep(2)
        chaos.platform.pause("payments")
        hung = time.monotonic()
        opened_after = None
        while time.monotonic() - hung < 8:
            key, method = saved.pop()
            load.keys.append(key)  # counted with the load's orders: each must end confirmed or compensated
            load.accepted[key] = (await chaos.place_directly(product, key, method)).order_id
            if opened_after is None and await chaos.metric("saga", "circuit_breaker_state", breaker) == 1:
                opened_after = round(time.monotonic() - hung, 2)
            await asyncio.sleep(0.25)
        chaos.platform.resume("payments")
        resumed = time.monotonic()
        closed_after = None
        while time.monotonic() - resumed < 30:
            if await chaos.metric("saga", "circuit_breaker_state", breaker) == 0:
                closed_after = round(time.monotonic() - resumed, 2)
                break
            await asyncio.sleep(0.2)
        await asyncio.sleep(2)
    during = load.latencies(hung, resumed)
    assert opened_after is not None, "the saga's breaker on payments never opened"
    assert closed_after is not None, "the breaker did not close within 30 s of payments recovering"
    await chaos.conclude(
        "payments hung for 8 s",
        load,
        product,
        {
            "breaker_opened_after_s": opened_after,
            "breaker_closed_after_recovery_s": closed_after,
            "gateway_post_during_fault": summary_ms(during),
        },
    )
    # The gateway does not hang with payments (8 s): its call timeout (1 s here), then its open breaker, answer every
    # placement within the saga's 3 s step (the margin absorbs a loaded 2-core machine: 2.7 s was seen while a
    # compiler ran beside it; p99 is reported).
    assert max(during) < 3.0


async def test_hung_orders_gateway_fails_fast_with_503_then_recovers(chaos: Chaos) -> None:
    product = await chaos.product()
    body = {"items": [{"product_id": product, "quantity": 1}], "card_token": "tok_ok"}
    rejected = 'dependency="orders"'
    rejected_before = await chaos.metric("gateway", "circuit_breaker_rejected_total", rejected) or 0.0
    chaos.platform.pause("orders")
    answers: list[tuple[int, float, httpx.Response]] = []
    try:
        for _ in range(12):
            started = time.monotonic()
            response = await chaos.api.post("/v1/orders", json=body, headers={"Idempotency-Key": str(uuid.uuid4())})
            answers.append((response.status_code, time.monotonic() - started, response))
    finally:
        chaos.platform.resume("orders")
    rejected_after = await chaos.metric("gateway", "circuit_breaker_rejected_total", rejected) or 0.0
    fast = [(seconds, r) for status, seconds, r in answers if r.headers.get("retry-after")]
    assert fast, f"the breaker never opened: {[(s, round(t, 2)) for s, t, _ in answers]}"
    assert all(r.status_code == 503 and "circuit breaker open" in r.json()["detail"] for _, r in fast)
    slow = [seconds for status, seconds, r in answers if not r.headers.get("retry-after")]
    recovered = await chaos.probe(product, timeout=30)
    report(
        "orders hung: the gateway's breaker",
        {
            "timed_out_before_open": summary_ms(slow),
            "failed_fast_while_open": summary_ms([s for s, _ in fast]),
            "resume_to_order_confirmed_s": recovered,
        },
    )
    # Failing fast means no call to orders: the breaker counts each answer it gave without one. Timing only
    # backs that up against the run's own slow answers (each waited the 1 s deadline), not a fixed bound that a
    # loaded machine breaks (one answer of 0.68 s was seen in CI while the first 11 took 35 ms).
    assert rejected_after - rejected_before == len(fast)
    assert max(s for s, _ in fast) < min(slow)


async def test_catalog_down_products_come_from_the_gateways_cache_marked_stale(chaos: Chaos) -> None:
    product = await chaos.product()
    fresh = await chaos.api.get(f"/v1/products/{product}")
    assert fresh.status_code == 200 and "x-tessera-degraded" not in fresh.headers
    await chaos.platform.stop("catalog", signal.SIGKILL)
    try:
        stale = await chaos.api.get(f"/v1/products/{product}")
        assert stale.status_code == 200
        assert stale.headers["x-tessera-degraded"] == "catalog-cache"
        assert stale.json() == fresh.json()
        graphql = await chaos.api.post(
            "/graphql", json={"query": f'{{ product(productId: "{product}") {{ productId priceCents }} }}'}
        )
        assert graphql.headers["x-tessera-degraded"] == "catalog-cache"
        assert graphql.json()["data"]["product"]["productId"] == product
        never_seen = await chaos.api.get(f"/v1/products/{uuid.uuid4()}")
        assert never_seen.status_code in (503, 504)  # nothing cached: the outage shows
    finally:
        restarted = time.monotonic()
        await chaos.platform.restart("catalog")
    # Fresh answers again once the gateway's breaker lets a call through (reset 2 s) and its channel reconnected.
    while "x-tessera-degraded" in (again := await chaos.api.get(f"/v1/products/{product}")).headers:
        assert time.monotonic() - restarted < 15, "still served from the cache 15 s after the catalog came back"
        await asyncio.sleep(0.2)
    assert again.status_code == 200
    report(
        "catalog down: the gateway's fallback", {"restart_to_fresh_answers_s": round(time.monotonic() - restarted, 2)}
    )
