"""The mesh carrying the platform's traffic on the local cluster: Istio's sidecars, mTLS STRICT, authorization by
the registry's callers. The same cluster session as the other cluster tests (tessera.testing.cluster)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import grpc
import pytest

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
