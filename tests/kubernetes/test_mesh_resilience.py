"""The chart's DestinationRules and routes at work in the mesh, each under load: outlier detection, the connection
pool's limit, and retries only of what never reached a service. Counted by Envoy where it happened (the caller's
sidecar) and by the services themselves. The same cluster session as the other cluster tests."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import httpx
import pytest

from tessera.testing.canary import Reads, eventually
from tessera.testing.chaos import OrderLoad, settle, summary_ms
from tessera.testing.cluster import Shop
from tessera.testing.mesh import by_upstream, envoy_stats, proxy_admin, upstream_hosts
from tessera.topology import registry

pytestmark = [pytest.mark.asyncio, pytest.mark.mesh]


def _pod_of(shop: Shop, service: str) -> str:
    pod, *_ = (p["metadata"]["name"] for p in shop.pods(service))
    return pod


def _metrics(shop: Shop, pod: str) -> str:
    """The service's own /metrics in `pod`, read inside the pod."""
    shown = json.loads(shop.kubectl("get", "pod", pod, "-o", "json"))
    (service,) = (c for c in shown["spec"]["containers"] if c["name"] != "istio-proxy")
    port = next(p["containerPort"] for p in service["ports"] if p["name"] == "metrics")
    script = f"import urllib.request as u; print(u.urlopen('http://127.0.0.1:{port}/metrics').read().decode())"
    return shop.kubectl("exec", pod, "-c", service["name"], "--", "/app/bin/python", "-c", script)


def _calls_handled(shop: Shop, pods: list[str]) -> Counter[str]:
    """The gRPC calls the services in `pods` handled, by status code (the kit's RED counter; health checks left
    out), read from each one's /metrics inside its pod."""
    handled: Counter[str] = Counter()
    for pod in pods:
        for line in _metrics(shop, pod).splitlines():
            if line.startswith("grpc_server_handled_total{") and "grpc.health" not in line:
                labels, value = line.rsplit(" ", 1)
                handled[labels.split('grpc_code="', 1)[1].split('"', 1)[0]] += int(float(value))
    return handled


def _breakers(shop: Shop, pods: list[str], dependency: str) -> tuple[int, bool]:
    """How often the callers in `pods` opened their circuit breaker of `dependency`, and whether all are closed now
    (the kit's breaker metrics)."""
    opened, closed = 0, True
    for pod in pods:
        for line in _metrics(shop, pod).splitlines():
            if f'dependency="{dependency}"' not in line:
                continue
            if line.startswith("circuit_breaker_transitions_total{") and 'state="opened"' in line:
                opened += int(float(line.rsplit(" ", 1)[1]))
            elif line.startswith("circuit_breaker_state{"):
                closed = closed and float(line.rsplit(" ", 1)[1]) == 0
    return opened, closed


def _ejections(shop: Shop, pod: str, service: str) -> int:
    """How many times the proxy in `pod` has ejected an endpoint of `service` (outlier detection)."""
    counts = by_upstream(envoy_stats(shop, pod), "outlier_detection.ejections_enforced_total", service)
    return counts.get(service, 0)


def _sent_to(shop: Shop, pod: str, service: str, address: str) -> int:
    """The requests the proxy in `pod` has sent to one endpoint of `service`."""
    return int(upstream_hosts(shop, pod, service)[address].get("rq_total", 0))


@contextlib.contextmanager
def _faulty_replica(shop: Shop, service: str) -> Iterator[dict[str, Any]]:
    """One more pod of `service` beside its Deployment's, made from the same pod template and behind the same
    Service, that fails every call (the kit's fault drill at 100 %) while its health checks pass: a bad replica.
    Yields the pod once Ready; deleted on leaving."""
    template = json.loads(shop.kubectl("get", "deployment", f"{shop.release.name}-{service}", "-o", "json"))
    template = template["spec"]["template"]
    for container in template["spec"]["containers"]:
        if container["name"] == service:
            container.setdefault("env", []).append({"name": "TESSERA_FAULT_PERCENT", "value": "100"})
    name = f"{shop.release.name}-{service}-faulty"
    labels = {key: value for key, value in template["metadata"]["labels"].items() if key != "pod-template-hash"}
    metadata = {"name": name, "namespace": shop.release.namespace, "labels": labels,
                "annotations": template["metadata"].get("annotations", {})}  # fmt: skip
    shop.release.cluster.apply(
        json.dumps({"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": template["spec"]})
    )
    try:
        shop.kubectl("wait", "--for=condition=Ready", f"pod/{name}", "--timeout=180s")
        yield json.loads(shop.kubectl("get", "pod", name, "-o", "json"))
    finally:
        shop.kubectl("delete", "pod", name, "--wait=false", check=False)


async def test_outlier_detection_ejects_a_failing_replica_and_traffic_moves_to_the_healthy_one(shop: Shop) -> None:
    """A bad replica of inventory joins its Service: Ready (its health checks pass) but failing every call. Each
    gateway replica's sidecar ejects it after the chart's consecutive5xxErrors and sends it no more of the API's
    calls, while readiness still lists it: the stock reads are answered by the healthy replicas. Each sidecar keeps
    its own outlier detection, so the reads are counted from the moment every gateway's sidecar has ejected it
    (and the gateway's own breaker of inventory, if the bad replica tripped it first, has closed again)."""
    product = await shop.product()
    gateways = [p["metadata"]["name"] for p in shop.pods("gateway")]
    inventory = f"{shop.release.name}-inventory"

    def in_all(check: Callable[[str], bool]) -> Callable[[], Awaitable[bool]]:
        return lambda: asyncio.to_thread(lambda: all(check(gateway) for gateway in gateways))

    def sent_to(ip: str) -> int:
        return sum(_sent_to(shop, gateway, inventory, ip) for gateway in gateways)

    with _faulty_replica(shop, "inventory") as faulty:
        faulty_ip = faulty["status"]["podIP"]
        healthy_ip, *_ = (p["status"]["podIP"] for p in shop.pods("inventory") if p["status"]["podIP"] != faulty_ip)
        await eventually(
            in_all(lambda gateway: faulty_ip in upstream_hosts(shop, gateway, inventory)),
            60,
            "the bad replica among every gateway's endpoints of inventory",
        )
        before = await asyncio.to_thread(lambda: {g: _ejections(shop, g, inventory) for g in gateways})
        opened_before, _ = await asyncio.to_thread(_breakers, shop, gateways, "inventory")
        reads = Reads(shop, f"/v1/products/{product}/stock", fresh_connections=False, pause=0.05)
        readers = [asyncio.create_task(reads.run()) for _ in range(3)]
        try:
            began = time.monotonic()
            await eventually(
                in_all(lambda gateway: _ejections(shop, gateway, inventory) > before[gateway]),
                60,
                "the bad replica ejected by every gateway's sidecar",
            )
            ejected = time.monotonic()
            flags = [(await asyncio.to_thread(upstream_hosts, shop, g, inventory))[faulty_ip] for g in gateways]
            # Before Envoy ejects it, the bad replica can fail a caller 5 calls in a row (least-request balancing
            # favours a replica that fails fast; the kit's retry throttling stops retries after a few failures):
            # the gateway's own breaker of inventory then opens, and answers 503 until it probes again (5 s).
            await eventually(
                lambda: asyncio.to_thread(lambda: _breakers(shop, gateways, "inventory")[1]),
                30,
                "every gateway's breaker of inventory closed",
            )
            opened = (await asyncio.to_thread(_breakers, shop, gateways, "inventory"))[0] - opened_before
            ips = (faulty_ip, healthy_ip)
            counts = {ip: await asyncio.to_thread(sent_to, ip) for ip in ips}
            handled = await asyncio.to_thread(_calls_handled, shop, [faulty["metadata"]["name"]])
            # The window in which the sidecars' counts are compared, and the reads too: a read answered before it
            # may have been sent before the ejection reached each of Envoy's worker threads.
            counted = time.monotonic()
            await asyncio.sleep(5)
            sent = {ip: await asyncio.to_thread(sent_to, ip) - counts[ip] for ip in ips}
            handled = await asyncio.to_thread(_calls_handled, shop, [faulty["metadata"]["name"]]) - handled
            clusters = [
                line
                for gateway in gateways
                for line in (await asyncio.to_thread(proxy_admin, shop, gateway, "clusters")).splitlines()
                if f"::{faulty_ip}:" in line and any(f"::{stat}::" in line for stat in ("rq_total", "health_flags"))
            ]
            shown = json.loads(shop.kubectl("get", "pod", faulty["metadata"]["name"], "-o", "json"))
            ready = {c["type"]: c["status"] for c in shown["status"]["conditions"]}
        finally:
            reads.stop.set()
            await asyncio.gather(*readers)
    figures = {
        "bad replica's first reads -> ejected by every gateway (s)": round(ejected - began, 1),
        "reads": dict(Counter(a.status for a in reads.answers)),
        "failed reads after the ejection was seen (s after it)": [
            round(a.at - ejected, 2) for a in reads.since(ejected) if a.status != 200
        ],
        "the gateways' breakers of inventory opened meanwhile (times)": opened,
        "the window compared begins (s after it)": round(counted - ejected, 2),
        "the bad replica's Ready condition meanwhile": ready.get("Ready"),
        "its health flags in each gateway's sidecar": [f.get("health_flags") for f in flags],
        "calls the gateways' sidecars sent in the next 5 s (bad, healthy)": [sent[faulty_ip], sent[healthy_ip]],
        "calls the bad replica handled meanwhile, by code": dict(handled),
        "the bad replica in the gateways' sidecars": clusters,
    }
    shop.record("mesh: outlier detection (inventory, a bad replica beside healthy ones)", figures)
    assert ready.get("Ready") == "True", figures  # the ejection, not readiness, moved the traffic
    assert all("failed_outlier_check" in f.get("health_flags", "") for f in flags), figures
    # Counted by the bad replica itself: the sidecars' request counts also take in calls the kit's fault drill
    # spares (the callers' health checks), which runs here saw reach the ejected replica now and then.
    assert not handled and sent[healthy_ip] > 0, figures
    after = reads.since(counted)
    assert after and all(a.status == 200 for a in after), figures


async def test_the_connection_pool_limit_sheds_excess_calls_with_a_clear_status_instead_of_queueing(
    shop: Shop,
) -> None:
    """Inventory's DestinationRule allows 2 requests in flight per caller's sidecar and 2 more waiting: 40
    concurrent stock reads through the gateway overflow it. Envoy fails the excess at once (its overflow counter),
    and the gateway answers each read 200 or a 503 problem."""
    pool = {"http": {"http2MaxRequests": 2, "http1MaxPendingRequests": 2}}
    limited = {"services": {"inventory": {"traffic": {"connectionPool": pool}}}}
    await asyncio.to_thread(shop.release.install, shop.release.values(shop.tag, **limited))
    try:
        product = await shop.product()
        gateway = _pod_of(shop, "gateway")
        inventory_host = f"{shop.release.name}-inventory"

        def overflows() -> dict[str, int]:
            """The gateway's sidecar's overflow counters for inventory's clusters, by counter."""
            stats = envoy_stats(shop, gateway)
            return {
                name.rsplit(".", 1)[1]: value
                for name, value in stats.items()
                if name.startswith("cluster.outbound|") and f"|{inventory_host}." in name and "overflow" in name
            }

        before = await asyncio.to_thread(overflows)
        answers: list[tuple[int, float, str]] = []

        async def read(client: httpx.AsyncClient) -> None:
            for _ in range(10):
                sent = time.monotonic()
                response = await client.get(f"/v1/products/{product}/stock")
                answers.append((response.status_code, time.monotonic() - sent, response.text[:200]))

        async with shop.api(timeout=30) as client:
            await asyncio.gather(*(read(client) for _ in range(40)))
        after = await asyncio.to_thread(overflows)
        counters = {name: value - before.get(name, 0) for name, value in after.items()}
    finally:
        await asyncio.to_thread(shop.release.install, shop.release.values(shop.tag))
    statuses = Counter(status for status, _, _ in answers)
    figures = {
        "reads (40 concurrent callers x 10)": dict(statuses),
        "the sidecar's overflow counters (change)": counters,
        "answered 200": summary_ms([seconds for status, seconds, _ in answers if status == 200]),
        "answered 503": summary_ms([seconds for status, seconds, _ in answers if status == 503]),
        "503 details": dict(Counter(_detail(body) for status, _, body in answers if status == 503)),
    }
    shop.record("mesh: connection pool limit (inventory, 2 requests in flight)", figures)
    # Envoy refused the calls beyond the limit at once (its local reply reaches the gateway as UNAVAILABLE); the
    # gateway's breaker then failed the next ones fast. (The first runs found no counter for them among Envoy's
    # `upstream_rq_pending_overflow`, which stayed 0 while Envoy answered "reset reason: overflow".)
    shed = sum(1 for status, _, body in answers if status == 503 and "reset reason: overflow" in body)
    assert shed > 0, figures
    assert set(statuses) <= {200, 503} and statuses[200] > 0, figures
    for status, _, body in answers:
        if status == 503:
            assert json.loads(body)["status"] == 503, body  # a problem body, not a proxy's page


def _detail(body: str) -> str:
    try:
        return str(json.loads(body).get("detail", body))[:120]
    except ValueError:
        return body[:120]


async def test_mesh_retries_never_repeat_a_call_that_reached_the_service(shop: Shop) -> None:
    """Payments fails 30 % of its calls after they reached it (UNAVAILABLE from the kit's fault drill). The
    callers' sidecars retry only what never reached a service (the chart's retryOn: connect-failure,
    refused-stream): they retry none of these, and payments handles no more calls than its callers' sidecars sent.
    No order is lost."""
    faulty = {"services": {"payments": {"faultPercent": 30}}}
    await asyncio.to_thread(shop.release.install, shop.release.values(shop.tag, **faulty))
    try:
        product = await shop.product(stock=10_000)
        payments_host = f"{shop.release.name}-payments"
        callers = [p["metadata"]["name"] for name in registry().callers("payments") for p in shop.pods(name)]
        payments = [p["metadata"]["name"] for p in shop.pods("payments")]

        def sent_and_retried() -> tuple[int, int]:
            sent = retried = 0
            for pod in callers:
                stats = envoy_stats(shop, pod)
                sent += by_upstream(stats, "upstream_rq_total", payments_host).get(payments_host, 0)
                retried += by_upstream(stats, "upstream_rq_retry", payments_host).get(payments_host, 0)
            return sent, retried

        sent_before, retried_before = await asyncio.to_thread(sent_and_retried)
        handled_before = await asyncio.to_thread(_calls_handled, shop, payments)
        async with OrderLoad(shop.gateway, product, rate=2.0, headers=shop.auth()) as orders:
            await asyncio.sleep(20)
        outcome = await settle(orders, shop.orders_dsn())
        sent_after, retried_after = await asyncio.to_thread(sent_and_retried)
        handled_after = await asyncio.to_thread(_calls_handled, shop, payments)
    finally:
        await asyncio.to_thread(shop.release.install, shop.release.values(shop.tag))
    handled = handled_after - handled_before
    figures = {
        "calls the callers' sidecars sent to payments": sent_after - sent_before,
        "of which the sidecars retried": retried_after - retried_before,
        "calls payments handled, by code": dict(handled),
        "orders": {"placed": outcome.sent, "confirmed": outcome.confirmed, "compensated": outcome.compensated,
                   "lost": outcome.lost},
    }  # fmt: skip
    shop.record("mesh: retries only of what never reached a service (payments failing 30 %)", figures)
    assert handled["UNAVAILABLE"] > 0, figures  # the drill failed calls that had reached payments
    assert retried_after - retried_before == 0, figures
    # No call more than the callers' sidecars sent (a call cut short before its handler ended is not counted).
    assert sum(handled.values()) <= sent_after - sent_before, figures
    assert outcome.lost == 0, figures
