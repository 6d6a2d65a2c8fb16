"""The mesh carrying the platform's traffic on the local cluster: Istio's sidecars, mTLS STRICT, authorization by
the registry's callers. The same cluster session as the other cluster tests (tessera.testing.cluster)."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import grpc
import pytest

from tessera.localcluster.mesh import WORKLOAD_CERT_TTL
from tessera.testing.cluster import Shop
from tessera.topology import registry

pytestmark = pytest.mark.asyncio

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
    target = shop.grpc_target(callee)
    answer = shop.kubectl("exec", f"deploy/{shop.release.name}-{caller}", "-c", caller, "--",
                          "/app/bin/python", "-c", _CALL_FROM_POD, target)  # fmt: skip
    return answer.strip()


async def test_every_pod_has_a_sidecar_and_plaintext_from_outside_the_mesh_is_refused(shop: Shop) -> None:
    if not shop.platform.mesh:
        pytest.skip("the cluster runs without the mesh")
    pods = _pods(shop)
    assert pods
    for pod in pods:
        containers = [c["name"] for c in pod["spec"].get("initContainers", []) + pod["spec"]["containers"]]
        assert "istio-proxy" in containers, (pod["metadata"]["name"], containers)
    refused = {}
    for spec in registry().services:
        # The host is outside the mesh: its plaintext HTTP/2 reaches the pod's sidecar, which takes mTLS only.
        async with grpc.aio.insecure_channel(shop.grpc_target(spec.name)) as channel:
            check: grpc.aio.UnaryUnaryMultiCallable[bytes, bytes] = channel.unary_unary("/grpc.health.v1.Health/Check")
            try:
                await check(b"", timeout=5)
                refused[spec.name] = "OK"
            except grpc.aio.AioRpcError as error:
                refused[spec.name] = f"{error.code().name}: {error.details()}"
    shop.record("mesh: plaintext from outside the mesh", refused)
    assert all(answer.startswith("UNAVAILABLE") for answer in refused.values()), refused


async def test_only_the_registrys_callers_may_call_a_service(shop: Shop) -> None:
    if not shop.platform.mesh:
        pytest.skip("the cluster runs without the mesh")
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
    dump = json.loads(shop.kubectl("exec", pod, "-c", "istio-proxy", "--", "pilot-agent", "request", "GET", "certs"))
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
    if not shop.platform.mesh:
        pytest.skip("the cluster runs without the mesh")
    namespace, release = shop.release.namespace, shop.release.name
    for pod in _pods(shop):
        service = _service_of(pod)
        certificate = await asyncio.to_thread(_workload_certificate, shop, pod["metadata"]["name"])
        assert certificate["id"] == f"spiffe://cluster.local/ns/{namespace}/sa/{release}-{service}", certificate
    # The gateway's pod (the primary copy's, if a canary controller made one).
    (gateway, *_) = [p["metadata"]["name"] for p in _pods(shop) if _service_of(p) == "gateway"]
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
