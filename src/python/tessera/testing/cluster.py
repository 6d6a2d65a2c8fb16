"""One real single-node Kubernetes for a test session, with the chart installed on it (tests/kubernetes).

Pants builds the service images first (the test target's runtime_package_dependencies). The cluster's programs come
from the cache, where `./pants run src/python/tessera/localcluster:prepare` builds them (CI runs it in the
background); what is missing is built here, or waited for while another process builds it, before the first test,
outside the tests' timeouts (pytest-timeout times test bodies only; see pants.toml). Everything is removed, and the
host's settings restored, when the session ends.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tessera.localcluster import host
from tessera.localcluster.cluster import BRIDGE
from tessera.localcluster.release import Release
from tessera.localcluster.up import ClusterPlatform
from tessera.testing.figures import record
from tessera.tools.seed import seed_through_api

CHART = Path("helm/tessera")
FINAL = {"CONFIRMED", "REJECTED", "CANCELLED"}


@dataclass
class Shop:
    """The installed release and what the tests do through it."""

    platform: ClusterPlatform
    release: Release
    tag: str
    endpoints: dict[str, str] = field(default_factory=dict)

    @property
    def gateway(self) -> str:
        """The API's address from the host: the gateway's Service, or the mesh's ingress gateway in front of it."""
        return self.endpoints["gateway"]

    def auth(self, customer: str = "c-k8s") -> dict[str, str]:
        """A bearer token of the release's issuer, acting for `customer`."""
        return {"Authorization": f"Bearer {self.release.issuer.customer_token(customer)}"}

    def api(self, customer: str = "c-k8s", **options: Any) -> httpx.AsyncClient:
        """An HTTP client of the in-cluster gateway, authenticated as `customer`."""
        return httpx.AsyncClient(base_url=self.gateway, headers=self.auth(customer), **options)

    async def query_prometheus(self, expr: str) -> list[dict[str, Any]]:
        """An instant query's result vector from the cluster's Prometheus."""
        async with httpx.AsyncClient(base_url=self.endpoints["prometheus"], timeout=10) as client:
            reply = (await client.get("/api/v1/query", params={"query": expr})).json()
        assert reply["status"] == "success", reply
        return list(reply["data"]["result"])

    def grpc_address(self, service: str) -> str:
        return self.release.service_url(service, "grpc").removeprefix("http://")

    def kubectl(self, *args: str, check: bool = True) -> str:
        return self.release.cluster.kubectl("-n", self.release.namespace, *args, check=check)

    async def product(self, stock: int = 1000) -> str:
        """A new product with stock, made through the API as an operator would (the services behind it accept
        calls from their callers only, in the mesh)."""
        (product_id,) = await seed_through_api(self.gateway, self.release.issuer.admin_token(), count=1, stock=stock)
        return product_id

    async def final_order(self, order_id: str, timeout: float = 60.0) -> dict[str, Any]:
        """The order once its status is final (bounded wait)."""
        deadline = time.monotonic() + timeout
        async with self.api(timeout=5) as client:
            while True:
                order = (await client.get(f"/v1/orders/{order_id}")).json()
                if order.get("status", "").upper() in FINAL or time.monotonic() > deadline:
                    return dict(order)
                await asyncio.sleep(0.3)

    def orders_dsn(self) -> str:
        admin = self.platform.infra.endpoints.postgres_dsn if self.platform.infra else ""
        return f"{admin.rpartition('/')[0]}/tessera_orders"

    def pods(self, service: str) -> list[dict[str, Any]]:
        shown = json.loads(self.kubectl("get", "pods", "-l", f"app.kubernetes.io/name={service}", "-o", "json"))
        return [p for p in shown["items"] if not p["metadata"].get("deletionTimestamp")]

    def record(self, name: str, figures: dict[str, Any]) -> None:
        record("kubernetes", {"test": name, **figures})


def session_runs_the_mesh() -> bool:
    """The session runs in Istio's mesh, as `localcluster:up` does; TESSERA_CLUSTER_MESH=off runs it as
    `up --no-mesh`. Tests marked `mesh` or `no_mesh` are collected only in their mode (tests/kubernetes/conftest)."""
    return os.environ.get("TESSERA_CLUSTER_MESH", "on") != "off"


@pytest.fixture(scope="session")
def shop() -> Iterator[Shop]:
    if os.geteuid() != 0:
        pytest.skip("the local cluster runs a kubelet and containerd and changes iptables: run the tests as root")
    state = Path(tempfile.mkdtemp(prefix="tessera-k8s-"))
    # The load tests send one caller's requests far past a customer's rate limit: counted, never reached.
    platform = ClusterPlatform(
        state, chart=CHART, values={"auth": {"rateLimit": "100000/second"}}, mesh=session_runs_the_mesh()
    )
    # The cluster removes at start what a killed earlier cluster left; the baseline is the host without it.
    for change in host.remove_stale_chains():
        print(f"removed what an earlier cluster left: {change}")
    host_before = _host_state()
    try:
        endpoints = platform.start(build=False)
        assert platform.release is not None
        yield Shop(platform, platform.release, endpoints["image_tag"], endpoints)
    finally:
        platform.stop()
        shutil.rmtree(state, ignore_errors=True)
    # The machine is as it was: other tests must not inherit the kubelet's or kube-proxy's changes.
    host_after = _host_state()
    changed = {key: (host_before[key], host_after[key]) for key in host_before if host_before[key] != host_after[key]}
    assert not changed, f"the cluster left the host changed (before, after): {changed}"


def _host_state() -> dict[str, Any]:
    """The host settings a cluster changes: sysctls, iptables chains, the bridge, the kubelet's cgroups."""
    return {
        "sysctls": {name: Path("/proc/sys", name).read_text().strip() for name in host.SYSCTLS},
        "chains": {table: sorted(host.chains("iptables", table)) for table in host.TABLES},
        "bridge": Path("/sys/class/net", BRIDGE).exists(),
        "cgroups": sorted(str(p) for p in Path("/sys/fs/cgroup").glob("*/kubepods")),
    }
