"""Tessera on a real Kubernetes: the chart installed, orders through the in-cluster gateway, Secrets encrypted in
etcd, the orders' traces in the cluster's Jaeger and every pod's metrics in its Prometheus, a flag change without
restarts, rolling updates under load, `helm rollback`, pods replaced after they die, autoscaling on CPU and (KEDA) on
a request rate from Prometheus, and Flagger's canaries: a failing version rolled back, a good one promoted.

The tests share one cluster and one release, and run in this file's order; each leaves the release Available.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import time
import uuid
from collections import Counter
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tessera.localcluster.encryption import CIPHERTEXT_PREFIX
from tessera.localcluster.images import SERVICE_REGISTRY
from tessera.localcluster.release import POSTGRES_SECRET, merge_values
from tessera.testing.canary import Reads, eventually, no_canary_pods, phase_is
from tessera.testing.chaos import OrderLoad, settle
from tessera.testing.cluster import Shop
from tessera.topology import registry

pytestmark = [pytest.mark.integration, pytest.mark.kubernetes]


def _deployments(shop: Shop) -> dict[str, dict[str, Any]]:
    shown = json.loads(shop.kubectl("get", "deployments", "-o", "json"))
    return {d["metadata"]["labels"]["app.kubernetes.io/name"]: d for d in shown["items"]}


def _available(deployment: dict[str, Any]) -> bool:
    conditions = {c["type"]: c["status"] for c in deployment["status"].get("conditions", [])}
    status = deployment["status"]
    return (
        conditions.get("Available") == "True"
        and status.get("updatedReplicas") == status.get("replicas")
        and status.get("readyReplicas") == status.get("replicas")
    )


async def _place(client: httpx.AsyncClient, product_id: str, card: str = "tok_visa") -> httpx.Response:
    body = {"items": [{"product_id": product_id, "quantity": 1}], "card_token": card}
    return await client.post("/v1/orders", json=body, headers={"Idempotency-Key": str(uuid.uuid4())})


async def _confirmed_order(shop: Shop) -> dict[str, Any]:
    """An order placed through the in-cluster gateway, once confirmed."""
    product = await shop.product()
    async with shop.api(timeout=10) as client:
        placed = await _place(client, product)
        assert placed.status_code == 202, placed.text
    order = await shop.final_order(placed.json()["order_id"])
    assert order["status"].upper() == "CONFIRMED", order
    return order


async def test_installed_release_confirms_an_order(shop: Shop) -> None:
    deployments = _deployments(shop)
    assert set(deployments) == {spec.name for spec in registry().services}
    assert all(_available(d) for d in deployments.values()), shop.release.diagnose()
    for name, deployment in deployments.items():
        image = deployment["spec"]["template"]["spec"]["containers"][0]["image"]
        assert image == f"{SERVICE_REGISTRY}/{name}:{shop.tag}"
    began = time.monotonic()
    await _confirmed_order(shop)
    async with shop.api(timeout=10) as client:
        health = (await client.get("/v1/platform/health")).json()
    async with httpx.AsyncClient(base_url=shop.gateway, timeout=10) as anonymous:
        refused = await anonymous.get("/v1/products")
    if shop.platform.mesh:
        # Refused before the gateway: its sidecar admits only requests whose token the mesh verified.
        assert refused.status_code == 403 and refused.text == "RBAC: access denied", refused.text
    else:
        assert refused.status_code == 401 and refused.headers["www-authenticate"].startswith("Bearer")
    timings = json.loads((shop.platform.state_dir / "timings.json").read_text())
    shop.record(
        "install",
        {
            **{k: round(v, 1) for k, v in timings.items()},
            "first order placed -> confirmed (s)": round(time.monotonic() - began, 2),
            "memory (MiB)": shop.release.cluster.memory_mib(),
        },
    )
    # The gateway's view of the platform, through the cluster's DNS: every service and every data store answers.
    assert set(health["services"]) == {spec.name for spec in registry().services}
    assert health["healthy"] is True, health


async def test_secrets_are_ciphertext_in_etcd_and_plain_in_the_pods(shop: Shop) -> None:
    """The API server encrypts Secrets before etcd keeps them (secretbox); a pod still gets the plain value."""
    stored = await asyncio.to_thread(
        shop.release.cluster.etcd_value, f"/registry/secrets/{shop.release.namespace}/{POSTGRES_SECRET}"
    )
    assert stored is not None, "the Secret is not in etcd"
    secret = json.loads(shop.kubectl("get", "secret", POSTGRES_SECRET, "-o", "json"))
    dsn = base64.b64decode(secret["data"]["orders-dsn"])
    shop.record(
        "Secrets at rest (etcd)",
        {"value begins": stored[: len(CIPHERTEXT_PREFIX) + 4].decode(errors="replace"), "bytes": len(stored)},
    )
    assert stored.startswith(CIPHERTEXT_PREFIX), stored[:60]
    assert dsn not in stored and b"postgresql://" not in stored and POSTGRES_SECRET.encode() not in stored
    seen = shop.kubectl("exec", "deploy/tessera-orders", "--", "printenv", "TESSERA_POSTGRES_DSN")
    assert seen.strip().encode() == dsn


async def test_jaeger_in_the_cluster_holds_the_order_s_trace_and_prometheus_scrapes_every_pod(shop: Shop) -> None:
    await _confirmed_order(shop)
    async with httpx.AsyncClient(base_url=shop.endpoints["jaeger"], timeout=10) as jaeger:

        async def order_trace() -> dict[str, Any] | None:
            """The trace of the order's POST: the gateway's span and the orders service's, in one trace."""
            reply = (await jaeger.get("/api/traces", params={"service": "gateway", "limit": 100})).json()
            for trace in reply["data"] or []:
                services = {process["serviceName"] for process in trace["processes"].values()}
                posts = [s for s in trace["spans"] if s["operationName"] == "POST /v1/orders"]
                if posts and {"gateway", "orders"} <= services:
                    return dict(trace)
            return None

        trace = await eventually(order_trace, 60, "the order's trace in Jaeger (gateway -> orders)")
    services = sorted({process["serviceName"] for process in trace["processes"].values()})

    async def every_pod_scraped() -> list[dict[str, Any]] | None:
        up = await shop.query_prometheus(f'up{{job="tessera", namespace="{shop.release.namespace}"}} == 1')
        return up if {series["metric"]["service"] for series in up} == {s.name for s in registry().services} else None

    up = await eventually(every_pod_scraped, 60, "Prometheus scraping a pod of every service")
    versions = await shop.query_prometheus(f'service_info{{namespace="{shop.release.namespace}"}}')
    assert {series["metric"]["version"] for series in versions} == {shop.tag}  # what each pod says it runs
    shop.record(
        "observability in the cluster",
        {"trace's services": services, "spans": len(trace["spans"]), "pods scraped": len(up)},
    )


async def test_flag_change_reaches_the_services_without_a_restart(shop: Shop) -> None:
    before = {p["metadata"]["name"]: _restarts(p) for s in registry().services for p in shop.pods(s.name)}
    product = await shop.product()
    flags = json.loads(shop.kubectl("get", "configmap", "tessera-feature-flags", "-o", "json"))["data"]["flags.json"]

    def set_placement(variant: str) -> None:
        changed = json.loads(flags)
        changed["flags"]["orders.placement-enabled"]["defaultVariant"] = variant
        patch = {"data": {"flags.json": json.dumps(changed)}}
        shop.kubectl("patch", "configmap", "tessera-feature-flags", "--type", "merge", "-p", json.dumps(patch))

    async with shop.api(timeout=10) as client:
        began = time.monotonic()
        set_placement("off")
        refused = await eventually(
            lambda: _answer_is(client, product, 409), 90, "placement switched off by the ConfigMap"
        )
        switched_off = time.monotonic() - began
        assert "switched off" in refused.text
        began = time.monotonic()
        set_placement("on")
        await eventually(lambda: _answer_is(client, product, 202), 90, "placement switched on again")
        switched_on = time.monotonic() - began
    after = {p["metadata"]["name"]: _restarts(p) for s in registry().services for p in shop.pods(s.name)}
    # Every pod from before is still there, never restarted (the autoscalers may have added others meanwhile).
    assert {name: after.get(name) for name in before} == before, "a flag change must not restart or replace any pod"
    shop.record("flags", {"off after (s)": round(switched_off, 1), "on after (s)": round(switched_on, 1)})


async def _answer_is(client: httpx.AsyncClient, product: str, status: int) -> httpx.Response | None:
    answer = await _place(client, product)
    return answer if answer.status_code == status else None


def _restarts(pod: dict[str, Any]) -> int:
    return sum(int(s.get("restartCount", 0)) for s in pod["status"].get("containerStatuses", []))


async def test_rolling_updates_under_load_lose_nothing(shop: Shop) -> None:
    """orders, then the saga, move to a new image tag while 4 orders/s flow: every order ends, no 5xx."""
    new_tag = f"{shop.tag}-r2"
    shop.release.load_images(new_tag)
    product = await shop.product(stock=100_000)
    rollouts: dict[str, list[float]] = {}  # service -> [began, ended], seconds into the load
    async with OrderLoad(shop.gateway, product, rate=4.0, headers=shop.auth()) as load:
        load_began = time.monotonic()
        await asyncio.sleep(5)
        overrides: dict[str, Any] = {"services": {}}
        for service in ("orders", "saga"):
            overrides["services"][service] = {"imageTag": new_tag}
            began = time.monotonic()
            await asyncio.to_thread(shop.release.install, shop.release.values(shop.tag, **overrides))
            rollouts[service] = [round(began - load_began, 1), round(time.monotonic() - load_began, 1)]
            image = _deployments(shop)[service]["spec"]["template"]["spec"]["containers"][0]["image"]
            assert image.endswith(f":{new_tag}")
            await asyncio.sleep(5)
    outcome = await settle(load, shop.orders_dsn())
    failures = [
        {"status": a.status, "at": round(a.sent_at - load_began, 1), "seconds": round(a.seconds, 2), "detail": a.detail}
        for a in load.attempts
        if a.status >= 500 or a.status == 0
    ]
    shop.record(
        "rolling update (orders, then saga) under 4 orders/s",
        {
            "sent": outcome.sent,
            "confirmed": outcome.confirmed,
            "compensated": outcome.compensated,
            "lost": outcome.lost,
            "gateway 5xx or no answer": len(failures),
            "rollouts (from, to: seconds into the load)": rollouts,
        },
    )
    assert outcome.lost == 0 and outcome.never_accepted == 0, outcome
    assert outcome.confirmed + outcome.compensated == outcome.sent
    assert failures == [], f"the gateway failed {len(failures)} requests during the rollout: {failures[:10]}"


async def test_helm_rollback_restores_the_previous_revision(shop: Shop) -> None:
    history = shop.release.history()
    assert len(history) >= 2, history
    revision = history[0]["revision"]  # the first install
    began = time.monotonic()
    await asyncio.to_thread(shop.release.rollback, revision)
    seconds = time.monotonic() - began
    deployments = _deployments(shop)
    for name, deployment in deployments.items():
        image = deployment["spec"]["template"]["spec"]["containers"][0]["image"]
        assert image == f"{SERVICE_REGISTRY}/{name}:{shop.tag}", (name, image)
        assert _available(deployment)
    assert shop.release.history()[-1]["description"] == f"Rollback to {revision}"
    product = await shop.product()
    async with shop.api(timeout=10) as client:
        placed = await _place(client, product)
        assert placed.status_code == 202, placed.text
    assert (await shop.final_order(placed.json()["order_id"]))["status"].upper() == "CONFIRMED"
    shop.record("rollback", {"helm rollback -> all Available (s)": round(seconds, 1)})


async def test_killed_and_deleted_pods_are_replaced_and_no_order_is_lost(shop: Shop) -> None:
    product = await shop.product(stock=100_000)
    deleted = shop.pods("orders")[0]["metadata"]["name"]
    payments = shop.pods("payments")[0]
    restarts_before = _restarts(payments)
    async with OrderLoad(shop.gateway, product, rate=4.0, headers=shop.auth()) as load:
        await asyncio.sleep(3)
        began = time.monotonic()
        shop.kubectl("delete", "pod", deleted, "--wait=false")
        container = payments["status"]["containerStatuses"][0]["containerID"].removeprefix("containerd://")
        shop.release.cluster.kill_container(container)

        async def healed() -> bool:
            orders = shop.pods("orders")
            payment_pods = shop.pods("payments")
            return (
                bool(orders)
                and all(p["metadata"]["name"] != deleted for p in orders)
                and all(_ready(p) for p in orders + payment_pods)
                and any(_restarts(p) > restarts_before for p in payment_pods)
            )

        await eventually(healed, 120, "the deleted pod replaced and the killed container restarted")
        healed_after = time.monotonic() - began
        await asyncio.sleep(5)
    outcome = await settle(load, shop.orders_dsn())
    shop.record(
        "self-healing: orders pod deleted, payments container killed, under 4 orders/s",
        {
            "sent": outcome.sent,
            "confirmed": outcome.confirmed,
            "compensated": outcome.compensated,
            "lost": outcome.lost,
            "healed after (s)": round(healed_after, 1),
        },
    )
    assert outcome.lost == 0 and outcome.never_accepted == 0, outcome


def _ready(pod: dict[str, Any]) -> bool:
    statuses = pod["status"].get("containerStatuses", [])
    return bool(statuses) and all(s.get("ready") for s in statuses)


async def test_the_gateway_scales_out_on_cpu_under_load_and_back_in_after(shop: Shop) -> None:
    """The HPA (KEDA's) on metrics-server's CPU figures: reads hammer the gateway until it has more replicas, then
    stop. Its request-rate trigger is off here, so CPU alone moves it."""
    autoscaling = {"maxReplicas": 3, "scaleDownStabilizationSeconds": 15, "customMetrics": False}
    overrides = {"services": {"gateway": {"autoscaling": autoscaling}}}
    await asyncio.to_thread(shop.release.install, shop.release.values(shop.tag, **overrides))
    product = await shop.product()

    def replicas() -> int:
        status = json.loads(shop.kubectl("get", "hpa", "keda-hpa-tessera-gateway", "-o", "json"))["status"]
        return int(status.get("currentReplicas", 0))

    # Earlier tests' load may have left it scaled out; the test starts from one replica (the window is 15 s).
    await eventually(lambda: _at_most(replicas, 1), 300, "the gateway at one replica before the load")
    stop = asyncio.Event()

    async def reader() -> None:
        async with shop.api(timeout=10) as client:
            while not stop.is_set():
                with contextlib.suppress(httpx.HTTPError):
                    await client.get(f"/v1/products/{product}")

    began = time.monotonic()
    readers = [asyncio.create_task(reader()) for _ in range(8)]
    try:
        await eventually(lambda: _at_least(replicas, 2), 240, "the gateway scaled out under load")
        scaled_out = time.monotonic() - began
        peak = replicas()
    finally:
        stop.set()
        await asyncio.gather(*readers)
    began = time.monotonic()
    await eventually(lambda: _at_most(replicas, 1), 300, "the gateway scaled back in after the load")
    scaled_in = time.monotonic() - began
    shop.record(
        "HPA (gateway, CPU via metrics-server)",
        {"load start -> scaled out (s)": round(scaled_out, 1), "peak replicas": peak,
         "load end -> back to 1 (s)": round(scaled_in, 1), "scale-down window (s)": 15},
    )  # fmt: skip


async def test_keda_scales_inventory_on_its_request_rate_from_prometheus(shop: Shop) -> None:
    """A custom metric: inventory's gRPC request rate (Prometheus, through KEDA's external-metrics API).

    Its CPU target is set out of reach, so only the rate can move it: about 30 calls/s against 10 per replica."""
    autoscaling = {
        "maxReplicas": 3,
        "requestsPerSecond": 10,
        "cpuUtilization": 1000,
        "scaleDownStabilizationSeconds": 15,
    }
    overrides = {"services": {"inventory": {"autoscaling": autoscaling}}}
    await asyncio.to_thread(shop.release.install, shop.release.values(shop.tag, **overrides))
    product = await shop.product()

    def hpa() -> dict[str, Any]:
        return dict(json.loads(shop.kubectl("get", "hpa", "keda-hpa-tessera-inventory", "-o", "json")))

    def replicas() -> int:
        return int(hpa()["status"].get("currentReplicas", 0))

    assert {metric["type"] for metric in hpa()["spec"]["metrics"]} == {"Resource", "External"}
    # Earlier tests' load may have scaled it out on CPU: from one replica, the rate alone must scale it.
    await eventually(lambda: _at_most(replicas, 1), 240, "inventory back to one replica before the calls")
    stop = asyncio.Event()

    async def caller() -> None:  # each stock read through the API is one GetStock call to inventory
        async with shop.api(timeout=5) as client:
            while not stop.is_set():
                with contextlib.suppress(httpx.HTTPError):
                    await client.get(f"/v1/products/{product}/stock")
                await asyncio.sleep(1 / 10)

    rate_query = (
        f'sum(rate(grpc_server_handled_total{{namespace="{shop.release.namespace}", service="inventory", '
        f'grpc_method="GetStock"}}[1m]))'
    )
    began = time.monotonic()
    callers = [asyncio.create_task(caller()) for _ in range(3)]
    try:
        try:
            await eventually(lambda: _at_least(replicas, 2), 240, "inventory scaled out on its request rate")
        except AssertionError as exc:
            raise AssertionError(f"{exc}; {await _why_not_scaled(shop, rate_query, hpa)}") from exc
        scaled_out = time.monotonic() - began
        (rate,) = await shop.query_prometheus(rate_query)
        calls_per_second = float(rate["value"][1])
        assert calls_per_second > 10, rate  # more than one replica's target: the rate, not the CPU, scaled it
        peak = replicas()
    finally:
        stop.set()
        await asyncio.gather(*callers)
    began = time.monotonic()
    await eventually(lambda: _at_most(replicas, 1), 300, "inventory scaled back in after the calls stopped")
    shop.record(
        "HPA (inventory, request rate from Prometheus via KEDA)",
        {"calls start -> scaled out (s)": round(scaled_out, 1), "calls/s at scale-out": round(calls_per_second, 1),
         "target per replica": 10, "peak replicas": peak,
         "calls end -> back to 1 (s)": round(time.monotonic() - began, 1)},
    )  # fmt: skip


async def _why_not_scaled(shop: Shop, rate_query: str, hpa: Callable[[], dict[str, Any]]) -> str:
    """What each link of the chain saw: the rate in Prometheus (scraped through the sidecar's merged metrics in the
    mesh), the value KEDA's external-metrics API serves the HPA, the HPA's conditions and the ScaledObject's."""
    rate = await shop.query_prometheus(rate_query)
    status = (await asyncio.to_thread(hpa)).get("status", {})
    conditions = [(c["type"], c["status"], c.get("reason"), c.get("message")) for c in status.get("conditions", [])]
    scaled_object = await asyncio.to_thread(shop.kubectl, "get", "scaledobject", "tessera-inventory", "-o", "json")
    external = await asyncio.to_thread(
        shop.release.cluster.kubectl, "get", "--raw",
        f"/apis/external.metrics.k8s.io/v1beta1/namespaces/{shop.release.namespace}/", check=False,
    )  # fmt: skip
    return (
        f"Prometheus: {rate}; HPA current metrics: {status.get('currentMetrics')}; HPA conditions: {conditions}; "
        f"ScaledObject conditions: {json.loads(scaled_object).get('status', {}).get('conditions')}; "
        f"external metrics API: {external[:600]}"
    )


async def _at_least(count: Any, n: int) -> bool:
    return bool(await asyncio.to_thread(count) >= n)


async def _at_most(count: Any, n: int) -> bool:
    return bool(await asyncio.to_thread(count) <= n)


@pytest.mark.no_mesh  # in the mesh, Flagger's istio provider runs the canaries (test_mesh_integration)
async def test_flagger_rolls_a_failing_canary_back_and_promotes_a_good_one(shop: Shop, flagger_reverted: None) -> None:
    """The gateway under Flagger (no mesh: its kubernetes provider), analysed on Prometheus' figures of the pods.

    A version that fails 40 % of its requests (the kit's fault drill) is rolled back without anyone acting; a
    good version (a new image tag) is promoted. Reads flow all along, through the gateway's Service, which
    reaches the primary copy and the canary alike.
    """
    analysis = {"interval": "10s", "threshold": 3, "iterations": 4, "metricInterval": "30s"}
    flagged = {
        "flagger": {"enabled": True, "provider": "kubernetes", "services": ["gateway"], "analysis": analysis},
        # Two cores: the readers below would otherwise scale the primary copy out on CPU.
        "services": {"gateway": {"autoscaling": {"maxReplicas": 2}}},
    }
    await asyncio.to_thread(shop.release.install, shop.release.values(shop.tag, **flagged))
    await eventually(lambda: phase_is(shop, "tessera-gateway", "Initialized"), 240, "Flagger took the gateway")
    product = await shop.product()
    reads = Reads(shop, f"/v1/products/{product}")
    readers = [asyncio.create_task(reads.run()) for _ in range(2)]
    try:
        bad = merge_values(flagged, {"services": {"gateway": {"faultPercent": 40}}})
        began = time.monotonic()
        await asyncio.to_thread(shop.release.install, shop.release.values(shop.tag, **bad))
        await eventually(lambda: phase_is(shop, "tessera-gateway", "Failed"), 420, "the failing canary rolled back")
        rolled_back = time.monotonic() - began
        during_bad = [answer.status for answer in reads.since(began)]
        canary = json.loads(shop.kubectl("get", "deployment", "tessera-gateway", "-o", "json"))
        assert canary["spec"]["replicas"] == 0  # the failing version no longer serves
        primary = json.loads(shop.kubectl("get", "configmap", "tessera-gateway-primary", "-o", "json"))["data"]
        assert "TESSERA_FAULT_PERCENT" not in primary  # the primary never ran the failing version
        gone = "the failed canary's pods gone (drained and exited)"
        await eventually(lambda: no_canary_pods(shop, "gateway"), 120, gone)
        after_rollback = time.monotonic()
        await asyncio.sleep(10)
        since = [answer.status for answer in reads.since(after_rollback)]
        assert since and all(status == 200 for status in since), f"errors after the rollback: {Counter(since)}"

        new_tag = f"{shop.tag}-canary"
        shop.release.load_images(new_tag)
        good = merge_values(flagged, {"services": {"gateway": {"imageTag": new_tag}}})
        began = time.monotonic()
        await asyncio.to_thread(shop.release.install, shop.release.values(shop.tag, **good))
        await eventually(lambda: phase_is(shop, "tessera-gateway", "Succeeded"), 420, "the good canary promoted")
        promoted = time.monotonic() - began
        during_good = [answer.status for answer in reads.since(began)]
    finally:
        reads.stop.set()
        await asyncio.gather(*readers)
    primary_image = json.loads(shop.kubectl("get", "deployment", "tessera-gateway-primary", "-o", "json"))
    assert primary_image["spec"]["template"]["spec"]["containers"][0]["image"].endswith(f"/gateway:{new_tag}")
    # No error while the good version is analysed and promoted (the primary rolls, the canary scales to zero).
    assert during_good and all(status == 200 for status in during_good), (Counter(during_good), reads.unanswered)
    shop.record(
        "canary (Flagger, kubernetes provider, gateway)",
        {"failing version (40 % faults) -> rolled back (s)": round(rolled_back, 1),
         "reads during the failing canary": dict(Counter(during_bad)),
         "good version -> promoted (s)": round(promoted, 1),
         "reads during the good canary": dict(Counter(during_good)),
         "reads resent (connection refused, not accepted in 3 s, or closed before an answer)": dict(reads.resent),
         "analysis": analysis},
    )  # fmt: skip
