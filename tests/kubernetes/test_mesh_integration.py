"""The mesh carrying the platform's traffic on the local cluster: Istio's sidecars, mTLS STRICT, authorization by
the registry's callers. The same cluster session as the other cluster tests (tessera.testing.cluster)."""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest

from tessera.kit.faults import FAULT_DETAIL
from tessera.localcluster.mesh import WORKLOAD_CERT_TTL
from tessera.localcluster.release import merge_values
from tessera.localinfra.issuer import DevIssuer
from tessera.testing.canary import Reads, canary_status, eventually, phase_is
from tessera.testing.chaos import OrderLoad, settle
from tessera.testing.cluster import Shop
from tessera.testing.mesh import edge_requests, proxy_admin
from tessera.topology import registry

pytestmark = [pytest.mark.asyncio, pytest.mark.mesh]

# A gRPC call from inside a pod, in its own container's Python (the service's virtualenv has grpcio): an empty
# request to the callee's health service, printing the status code it gets. The mesh answers a denied call
# itself (PERMISSION_DENIED, "RBAC: access denied"); an admitted one reaches the service.
_CALL_FROM_POD = """
import grpc, sys
channel = grpc.insecure_channel(sys.argv[1])
call = channel.unary_unary("/grpc.health.v1.Health/Check")
try:
    call(b"", timeout=10)
    print("OK")
except grpc.RpcError as error:
    print(error.code().name, error.details())
"""


def _pods(shop: Shop) -> list[dict[str, Any]]:
    shown = json.loads(shop.kubectl("get", "pods", "-l", "app.kubernetes.io/part-of=tessera", "-o", "json"))
    return [p for p in shown["items"] if not p["metadata"].get("deletionTimestamp")]


def _call_from(shop: Shop, caller: str, callee: str) -> str:
    target = shop.grpc_address(callee)
    pod, *_ = (p["metadata"]["name"] for p in _pods(shop) if _service_of(p) == caller)
    answer = shop.kubectl("exec", pod, "-c", caller, "--",
                          "/app/bin/python", "-c", _CALL_FROM_POD, target)  # fmt: skip
    return answer.strip()


async def test_every_pod_has_a_sidecar_and_plaintext_from_outside_the_mesh_is_refused(shop: Shop) -> None:
    pods = _pods(shop)
    assert pods
    for pod in pods:
        containers = [c["name"] for c in pod["spec"].get("initContainers", []) + pod["spec"]["containers"]]
        assert "istio-proxy" in containers, (pod["metadata"]["name"], containers)
    refused = {}
    for spec in registry().services:
        # The host is outside the mesh: its plaintext HTTP/2 reaches the pod's sidecar, which takes mTLS only.
        async with grpc.aio.insecure_channel(shop.grpc_address(spec.name)) as channel:
            check: grpc.aio.UnaryUnaryMultiCallable[bytes, bytes] = channel.unary_unary("/grpc.health.v1.Health/Check")
            try:
                await check(b"", timeout=5)
                refused[spec.name] = "OK"
            except grpc.aio.AioRpcError as error:
                refused[spec.name] = f"{error.code().name}: {error.details()}"
    shop.record("mesh: plaintext from outside the mesh", refused)
    assert all(answer.startswith("UNAVAILABLE") for answer in refused.values()), refused


async def test_only_the_registrys_callers_may_call_a_service(shop: Shop) -> None:
    topology = registry()
    answers: dict[str, str] = {}
    for callee in topology.names:
        callers = topology.callers(callee)
        if not callers or not topology[callee].grpc_api:
            continue
        stranger = next(name for name in topology.names if name not in callers and name != callee)
        admitted, denied = await asyncio.gather(
            asyncio.to_thread(_call_from, shop, callers[0], callee),
            asyncio.to_thread(_call_from, shop, stranger, callee),
        )
        answers[f"{callers[0]} -> {callee}"] = admitted
        answers[f"{stranger} -> {callee}"] = denied
        assert not admitted.startswith("PERMISSION_DENIED"), (callers[0], callee, admitted)
        assert denied.startswith("PERMISSION_DENIED"), (stranger, callee, denied)
    shop.record("mesh: authorization by the registry's callers", answers)


def _workload_certificate(shop: Shop, pod: str) -> dict[str, str]:
    """The certificate the pod's sidecar presents: its SPIFFE id, serial and lifetime (Envoy's /certs)."""
    dump = json.loads(proxy_admin(shop, pod, "certs"))
    for certificate in dump["certificates"]:
        for chain in certificate.get("cert_chain", []):
            uris = [name["uri"] for name in chain.get("subject_alt_names", []) if "uri" in name]
            if uris:
                return {"id": uris[0], "serial": chain["serial_number"], "valid_from": chain["valid_from"],
                        "expires": chain["expiration_time"]}  # fmt: skip
    raise AssertionError(f"{pod}: its sidecar holds no workload certificate: {dump}")


def _service_of(pod: dict[str, Any]) -> str:
    """The service a pod runs (a canary controller's primary copy of it is named <service>-primary)."""
    return str(pod["metadata"]["labels"]["app.kubernetes.io/name"]).removesuffix("-primary")


def _restarts(shop: Shop, pod: str) -> dict[str, int]:
    shown = json.loads(shop.kubectl("get", "pod", pod, "-o", "json"))
    statuses = shown["status"].get("initContainerStatuses", []) + shown["status"]["containerStatuses"]
    return {status["name"]: status["restartCount"] for status in statuses}


async def test_each_sidecar_holds_its_services_spiffe_id_and_renews_it_without_a_restart(shop: Shop) -> None:
    namespace, release = shop.release.namespace, shop.release.name
    for pod in _pods(shop):
        service = _service_of(pod)
        certificate = await asyncio.to_thread(_workload_certificate, shop, pod["metadata"]["name"])
        assert certificate["id"] == f"spiffe://cluster.local/ns/{namespace}/sa/{release}-{service}", certificate
    # The gateway's pod (the primary copy's, if a canary controller made one).
    gateway, *_ = (p["metadata"]["name"] for p in _pods(shop) if _service_of(p) == "gateway")
    before, restarts = _workload_certificate(shop, gateway), _restarts(shop, gateway)
    began = time.monotonic()
    lifetime = int(WORKLOAD_CERT_TTL.removesuffix("m")) * 60
    while (after := await asyncio.to_thread(_workload_certificate, shop, gateway))["serial"] == before["serial"]:
        assert time.monotonic() - began < lifetime, f"not renewed within its lifetime ({WORKLOAD_CERT_TTL}): {after}"
        await asyncio.sleep(5)
    renewed_after = time.monotonic() - began
    assert _restarts(shop, gateway) == restarts
    assert after["id"] == before["id"] and after["expires"] > before["expires"]
    # The renewed certificate carries the calls: an order through the gateway is confirmed.
    product = await shop.product()
    async with shop.api(timeout=10) as client:
        placed = await client.post(
            "/v1/orders",
            json={"items": [{"product_id": product, "quantity": 1}], "card_token": "tok_visa"},
            headers={"Idempotency-Key": f"rotation-{after['serial']}"},
        )
    assert placed.status_code == 202, placed.text
    assert (await shop.final_order(placed.json()["order_id"]))["status"].upper() == "CONFIRMED"
    shop.record(
        "mesh: workload certificates",
        {"lifetime": WORKLOAD_CERT_TTL, "gateway's id": after["id"], "renewed after (s, from the check's start)":
         round(renewed_after, 1), "old expiry": before["expires"], "new expiry": after["expires"],
         "container restarts meanwhile": 0},
    )  # fmt: skip


def _steps(samples: list[tuple[float, int, dict[str, int]]], primary: str, canary: str) -> list[dict[str, Any]]:
    """The canary's measured share at each weight Flagger set: the edge's requests to each track over the samples
    taken at that weight, from 2 s after Flagger set it (the mesh's configuration takes a moment to reach the
    edge) to the sample before the next weight."""
    steps = []
    for weight in sorted({w for _, w, _ in samples if w > 0}):
        at_weight = [(t, counts) for t, w, counts in samples if w == weight]
        settled = [counts for t, counts in at_weight if t >= at_weight[0][0] + 2][:-1]
        if len(settled) < 2:
            continue
        first, last = settled[0], settled[-1]
        to_canary = last.get(canary, 0) - first.get(canary, 0)
        to_primary = last.get(primary, 0) - first.get(primary, 0)
        if to_canary + to_primary:
            steps.append({"weight": weight, "requests": to_canary + to_primary, "to canary": to_canary,
                          "share %": round(100 * to_canary / (to_canary + to_primary), 1)})  # fmt: skip
    return steps


async def _sample_weights(shop: Shop, name: str, hosts: str, stop: asyncio.Event) -> list[Any]:
    """Flagger's canary weight and the edge's request counts, sampled about every second until `stop`."""
    samples: list[tuple[float, int, dict[str, int]]] = []
    while not stop.is_set():
        status, counts = await asyncio.gather(
            asyncio.to_thread(canary_status, shop, name), asyncio.to_thread(edge_requests, shop, hosts)
        )
        samples.append((time.monotonic(), int(status.get("canaryWeight", 0)), counts))
        await asyncio.sleep(0.3)
    return samples


# Checks every 10 s (a step of ~190 requests at the edge, enough to count the split in; at 15 s the test took
# 612 s of a run's 1,707 in the cluster); 3 failed checks roll back; the canary's weight grows 20 points a check,
# up to 60.
_ANALYSIS = {"interval": "10s", "threshold": 3, "stepWeight": 20, "maxWeight": 60, "iterations": 3,
             "metricInterval": "30s"}  # fmt: skip


@dataclass
class _GatewayCanary:
    """The gateway under Flagger's istio provider, with readers of the API running through the edge."""

    shop: Shop
    reads: Reads
    marked: Reads  # readers sending the chart's canary header
    figures: dict[str, Any]

    @property
    def name(self) -> str:
        return f"{self.shop.release.name}-gateway"

    @property
    def tracks(self) -> tuple[str, str]:
        """Flagger's Services of the primary copy and of the canary (the edge's upstream hosts)."""
        return f"{self.name}-flagger-primary", f"{self.name}-flagger-canary"

    async def release(self, overrides: dict[str, Any]) -> float:
        """Installs the chart with Flagger on the gateway and `overrides`; the time it began."""
        flagged = {
            "flagger": {"enabled": True, "provider": "istio", "services": ["gateway"], "analysis": _ANALYSIS},
            # Two cores: the readers would otherwise scale the primary copy out on CPU.
            "services": {"gateway": {"autoscaling": {"maxReplicas": 1}}},
        }
        began = time.monotonic()
        values = self.shop.release.values(self.shop.tag, **merge_values(flagged, overrides))
        await asyncio.to_thread(self.shop.release.install, values)
        return began

    async def reaches(self, phase: str, timeout: float, what: str) -> None:
        await eventually(lambda: phase_is(self.shop, self.name, phase), timeout, what)

    def edge_counts(self) -> dict[str, int]:
        return edge_requests(self.shop, f"{self.name}-flagger-")

    async def promote_step_by_step(self, tag: str) -> None:
        """A good version takes each step's weight of the edge's requests and is promoted."""
        primary, canary = self.tracks
        stop = asyncio.Event()
        sampler = asyncio.create_task(_sample_weights(self.shop, self.name, f"{self.name}-flagger-", stop))
        began = await self.release({"services": {"gateway": {"imageTag": tag}}})
        await self.reaches("Succeeded", 480, "the good canary promoted")
        self.figures["good version -> promoted (s)"] = round(time.monotonic() - began, 1)
        stop.set()
        steps = _steps(await sampler, primary, canary)
        self.figures["split at each step (the edge's requests)"] = steps
        assert [step["weight"] for step in steps] == [20, 40, 60], steps
        for step in steps:
            assert abs(step["share %"] - step["weight"]) <= 15, step
        # Pooled over the steps, the canary's share is the weights' within a few points.
        expected = sum(step["weight"] * step["requests"] for step in steps) / 100
        got = sum(step["to canary"] for step in steps)
        total = sum(step["requests"] for step in steps)
        pooled = [round(100 * got / total, 1), round(100 * expected / total, 1)]
        self.figures["pooled: canary's share, the weights' (%)"] = pooled
        assert abs(got - expected) / total <= 0.06, self.figures

    async def roll_back_a_failing_version(self, tag: str) -> None:
        """A version failing 40 % of its requests (the kit's fault drill) is rolled back, nobody acting."""
        primary, canary = self.tracks
        began = await self.release({"services": {"gateway": {"imageTag": tag, "faultPercent": 40}}})
        await self.reaches("Failed", 420, "the failing canary rolled back")
        self.figures["failing version (40 % faults) -> rolled back (s)"] = round(time.monotonic() - began, 1)
        during = self.reads.since(began)
        self.figures["reads during the failing canary"] = dict(Counter(a.status for a in during))
        assert {a.status for a in during if not a.injected} == {200}, self.figures
        shown = json.loads(self.shop.kubectl("get", "virtualservice", f"{self.name}-flagger", "-o", "json"))
        routes = {d["destination"]["host"]: d.get("weight", 0) for d in shown["spec"]["http"][0]["route"]}
        assert routes == {primary: 100, canary: 0}, routes

    async def route_by_header(self, tag: str) -> None:
        """A/B: requests with the canary header reach the canary, all others the primary, until promotion."""
        primary, canary = self.tracks
        header = {"x-tessera-canary": "always"}
        await self.release({"flagger": {"analysis": {"abTesting": True}}, "services": {"gateway": {"imageTag": tag}}})
        marked = asyncio.create_task(self.marked.run())  # the canary's traffic for the analysis
        try:
            await eventually(lambda: _ab_routing(self.shop, self.name, canary), 240, "the A/B route in place")
            await asyncio.sleep(2)  # the route reaching the edge (as in _steps)
        finally:
            self.marked.stop.set()
            await marked
        # A burst of requests with the header, the only ones carrying it meanwhile, beside the plain readers and the
        # orders: the canary gets exactly these.
        burst = 60
        before, plain_before = await asyncio.to_thread(self.edge_counts), len(self.reads.answers)
        async with self.shop.api(timeout=10) as client:
            statuses = Counter([(await client.get(self.reads.path, headers=header)).status_code for _ in range(burst)])
        after, sent_plain = await asyncio.to_thread(self.edge_counts), len(self.reads.answers) - plain_before
        self.marked.stop.clear()
        marked = asyncio.create_task(self.marked.run())
        try:
            await self.reaches("Succeeded", 300, "the A/B canary promoted")
        finally:
            self.marked.stop.set()
            await marked
        to_canary = after.get(canary, 0) - before.get(canary, 0)
        to_primary = after.get(primary, 0) - before.get(primary, 0)
        self.figures["A/B: requests with the header, the canary got; plain reads answered, the primary got"] = [
            burst, to_canary, sent_plain, to_primary
        ]  # fmt: skip
        assert statuses == {200: burst} and to_canary == burst, self.figures
        # Every plain read went to the primary (with the orders, and a read in flight at either count).
        assert to_primary >= sent_plain - 3, self.figures


@pytest.mark.timeout(1500)  # three canary releases, each analysed at 10 s checks
async def test_flagger_weights_real_traffic_in_the_mesh_rolls_back_a_failing_version_and_ab_routes_by_header(
    shop: Shop,
    flagger_reverted: None,
) -> None:
    """The gateway under Flagger's istio provider: its VirtualService on the edge Gateway weights every request.

    A good version takes its step weight of the edge's requests (counted by the edge's Envoy) and is promoted; a
    version failing 40 % of its requests is rolled back by the analysis alone; in A/B mode, requests with the
    canary header reach the canary and no others do. Orders are placed all along (retried on the injected faults
    with their idempotency key): none is lost, and the gateway answers no 5xx but the injected ones.
    """
    product = await shop.product(stock=100_000)
    path = f"/v1/products/{product}"
    run = _GatewayCanary(
        shop,
        reads=Reads(shop, path, fresh_connections=False, pause=0.05),
        marked=Reads(shop, path, headers={"x-tessera-canary": "always"}, fresh_connections=False, pause=0.2),
        figures={},
    )
    run.figures["analysis"] = _ANALYSIS
    await run.release({})
    await run.reaches("Initialized", 240, "Flagger took the gateway")
    good, ab = f"{shop.tag}-istio", f"{shop.tag}-ab"
    for tag in (good, ab):
        shop.release.load_images(tag)
    readers = [asyncio.create_task(run.reads.run()) for _ in range(3)]
    async with OrderLoad(shop.gateway, product, rate=1.0, headers=shop.auth()) as orders:
        try:
            await run.promote_step_by_step(good)
            await run.roll_back_a_failing_version(good)
            await run.route_by_header(ab)
        finally:
            run.reads.stop.set()
            await asyncio.gather(*readers)
    outcome = await settle(orders, shop.orders_dsn())
    failures = [a for a in orders.attempts if a.status >= 500 and FAULT_DETAIL not in a.detail]
    run.figures["orders"] = {"placed": outcome.sent, "confirmed": outcome.confirmed, "lost": outcome.lost,
                             "5xx not injected": len(failures)}  # fmt: skip
    shop.record("canary (Flagger, istio provider, gateway at the edge)", run.figures)
    assert outcome.lost == 0 and outcome.never_accepted == 0, outcome
    assert not failures, failures[:5]
    assert {a.status for a in run.reads.answers if not a.injected} == {200}, Counter(
        a.status for a in run.reads.answers
    )


async def _ab_routing(shop: Shop, name: str, canary: str) -> bool:
    shown = json.loads(await asyncio.to_thread(shop.kubectl, "get", "virtualservice", f"{name}-flagger", "-o", "json"))
    matched = shown["spec"]["http"][0]
    weights = {d["destination"]["host"]: d.get("weight", 0) for d in matched["route"]}
    return "match" in matched and weights.get(canary) == 100


async def test_the_edge_refuses_requests_without_a_valid_token_and_the_gateway_still_checks_its_own(
    shop: Shop, tmp_path: Path
) -> None:
    """The ingress gateway verifies the API's tokens (RequestAuthentication) and denies a request without one: such
    requests never leave the edge. A valid token passes the edge, and the gateway still decides what it allows."""
    issuer = shop.release.issuer
    stranger = DevIssuer(tmp_path, issuer=issuer.issuer, audience=issuer.audience)  # same claims, another key
    product = await shop.product()
    refused = {
        "no token": {},
        "another key": {"Authorization": f"Bearer {stranger.customer_token('c-edge')}"},
        "expired": {"Authorization": f"Bearer {issuer.customer_token('c-edge', ttl_seconds=-120)}"},
        "another audience": {"Authorization": f"Bearer {issuer.customer_token('c-edge', audience='elsewhere')}"},
    }
    upstream = f"{shop.release.name}-gateway"
    answers: dict[str, Any] = {}
    async with httpx.AsyncClient(base_url=shop.gateway, timeout=10) as client:
        before = await asyncio.to_thread(edge_requests, shop, upstream)
        for case, headers in refused.items():
            answer = await client.get(f"/v1/products/{product}", headers=headers)
            answers[case] = [answer.status_code, answer.text[:80]]
        after_refused = await asyncio.to_thread(edge_requests, shop, upstream)
        # A customer's valid token passes the edge; creating a product takes the admin's scope: the gateway says no.
        customer = await client.post("/v1/products", headers=shop.auth("c-edge"), json={"sku": "EDGE-1", "name": "x",
                                     "price_cents": 1, "currency": "EUR"})  # fmt: skip
        answers["valid customer token, admin's operation"] = [customer.status_code, customer.json()]
        after_valid = await asyncio.to_thread(edge_requests, shop, upstream)
    shop.record("mesh: tokens at the edge", answers)
    assert answers["no token"][0] == 403, answers
    # Envoy's JWT filter: 401 for a token it cannot verify, 403 for a verified one not meant for this API.
    assert answers["another key"][0] == answers["expired"][0] == 401, answers
    assert answers["another audience"][0] == 403 and "Audiences" in answers["another audience"][1], answers
    assert sum(after_refused.values()) == sum(before.values()), (before, after_refused)  # none left the edge
    assert sum(after_valid.values()) == sum(after_refused.values()) + 1
    assert customer.status_code == 403 and customer.json()["status"] == 403, customer.text
