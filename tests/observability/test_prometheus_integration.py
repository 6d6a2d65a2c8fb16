"""A real Prometheus (Debian's package) scrapes the running platform: the kit's metrics are there, every dashboard
expression evaluates, and the alert rules load."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
from e2e.platform_fixtures import Clients, platform_clients

from tessera.localinfra import InfraEndpoints
from tessera.localinfra.prometheus import PrometheusServer
from tessera.tools.dashboards import alert_rules, service_dashboard
from tessera.topology import registry

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]

FILES = Path("helm/tessera/files")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def scraped(
    infra: InfraEndpoints, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[tuple[Clients, PrometheusServer]]:
    async for clients in platform_clients(infra, tmp_path_factory.mktemp("scraped-logs")):
        targets = {s.name: f"127.0.0.1:{clients.platform.ports[f'{s.name}_metrics']}" for s in registry().services}
        prometheus = PrometheusServer(
            tmp_path_factory.mktemp("prometheus"), targets, rule_files=[FILES / "prometheus" / "alerts.json"]
        )
        await asyncio.to_thread(prometheus.start)
        try:
            await _traffic(clients)
            yield clients, prometheus
        finally:
            await asyncio.to_thread(prometheus.stop)


async def _traffic(clients: Clients) -> None:
    """An order to confirmation, and catalog reads (a miss then hits), so every kind of metric has samples."""
    product = await clients.product(price_cents=300, stock=5)
    order = await clients.place(product, customer=f"prom-{uuid.uuid4().hex[:6]}")
    await clients.settled(order.order_id)
    async with clients.platform.api(timeout=10) as api:
        for _ in range(5):
            assert (await api.get(f"/v1/products/{product}")).status_code == 200


async def _eventually(
    prometheus: PrometheusServer,
    expr: str,
    done: Callable[[list[dict[str, object]]], bool] = bool,
    timeout: float = 30.0,
) -> list[dict[str, object]]:
    """`expr`'s answer once `done` with it (by default: once it has a series), or the last one after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        result = await asyncio.to_thread(prometheus.query, expr)
        if done(result) or time.monotonic() > deadline:
            return result
        await asyncio.sleep(0.5)


def _labels(result: list[dict[str, object]], label: str) -> set[str]:
    return {str(item["metric"][label]) for item in result}  # type: ignore[index]


async def _labels_eventually(prometheus: PrometheusServer, expr: str, label: str, wanted: set[str]) -> set[str]:
    """The `label` values of `expr`'s series once they include `wanted`: each service reports on its own schedule,
    so the first answer may hold some of them only."""
    return _labels(await _eventually(prometheus, expr, lambda result: wanted <= _labels(result, label)), label)


async def test_every_service_is_scraped_with_the_kits_metrics(scraped: tuple[Clients, PrometheusServer]) -> None:
    _, prometheus = scraped
    names = {s.name for s in registry().services}
    deadline = time.monotonic() + 30
    while _labels(await asyncio.to_thread(prometheus.query, 'up{job="tessera"} == 1'), "service") != names:
        assert time.monotonic() < deadline, "not every service was scraped"
        await asyncio.sleep(0.5)

    served = {"catalog", "inventory", "payments", "orders", "projections"}
    grpc_services = await _labels_eventually(
        prometheus, "sum by (service) (grpc_server_handled_total)", "service", served
    )
    assert served <= grpc_services
    assert await _eventually(prometheus, 'http_requests_total{service="gateway", route="/v1/products/{product_id}"}')
    assert await _eventually(prometheus, 'saga_outcomes_total{service="saga", outcome="completed"} >= 1')
    assert await _eventually(prometheus, 'saga_step_seconds_count{service="saga"}')
    closed = {"inventory", "payments", "orders"}
    assert closed <= await _labels_eventually(prometheus, "circuit_breaker_state == 0", "dependency", closed)
    assert await _eventually(prometheus, 'cache_requests_total{service="catalog", result="hit"} > 0')
    relaying = {"catalog", "orders"}
    assert relaying <= await _labels_eventually(prometheus, "outbox_backlog", "service", relaying)
    consuming = {"saga", "projections"}
    assert consuming <= await _labels_eventually(prometheus, "kafka_consumer_lag", "service", consuming)


async def test_every_dashboard_expression_evaluates_on_the_real_metrics(
    scraped: tuple[Clients, PrometheusServer],
) -> None:
    _, prometheus = scraped
    await _eventually(prometheus, 'sum(rate(grpc_server_handled_total{service="orders"}[5m])) > 0')
    empty = []
    every = {
        "overview": json.loads((FILES / "grafana" / "overview.json").read_text()),
        **{s.name: service_dashboard(s) for s in registry().services},
    }
    for name, dashboard in every.items():
        for panel in dashboard["panels"]:
            for target in panel["targets"]:
                # An invalid expression raises with Prometheus' own message.
                if not await asyncio.to_thread(prometheus.query, target["expr"]):
                    empty.append(f"{name}: {panel['title']}")
    # Some panels are empty on a healthy platform (open breakers, failed-fast calls); the RED panels are not.
    assert not [e for e in empty if "requests / s" in e or "p99" in e], empty


async def test_prometheus_loads_the_alert_rules_and_none_fires_on_a_healthy_platform(
    scraped: tuple[Clients, PrometheusServer],
) -> None:
    _, prometheus = scraped
    async with httpx.AsyncClient(base_url=prometheus.url) as http:
        groups = (await http.get("/api/v1/rules")).json()["data"]["groups"]
        rules = [rule for group in groups for rule in group["rules"]]
        assert sorted(rule["name"] for rule in rules) == sorted(
            r["alert"] for g in alert_rules()["groups"] for r in g["rules"]
        )
        assert all(rule["health"] == "ok" for rule in rules), [(r["name"], r.get("lastError")) for r in rules]
        firing = (await http.get("/api/v1/alerts")).json()["data"]["alerts"]
        assert [a for a in firing if a["state"] == "firing"] == []
