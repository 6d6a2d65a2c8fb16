"""`./pants run src/python/tessera/tools:mesh-cost` (as root): what Istio's sidecars cost, measured in one run.

Starts the local cluster with the mesh (as `localcluster:up --no-build`: the images `pants package` built), then
runs the same order load through the gateway with the chart's `istio.enabled` on (a sidecar in every pod, the
requests entering through the ingress gateway) and off (no sidecars, the gateway's Service), alternating
on, off, on, off so that the machine's drift falls on both. For each phase it prints:
- CPU-ms per order: the CPU of every pod of the release, and in the mesh of Istio's own (istiod, the ingress
  gateway), from their cgroups, over the load, divided by the orders confirmed; and their CPU at idle before it;
- placement p50/p99 (POST /v1/orders -> 202) and placement -> confirmed p99;
- the memory (RSS) of each sidecar, and of every pod.
It removes the cluster when done. Figures go to stdout, and as JSON with --json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tessera.localcluster import mesh
from tessera.localcluster.release import Release, merge_values
from tessera.localcluster.up import CHART, ClusterPlatform
from tessera.tools.load import Outcomes, Results, place_order, schedule
from tessera.tools.seed import seed_through_api
from tessera.topology import registry

CGROUPS = Path("/sys/fs/cgroup")  # cgroup v1 with the kubelet's cgroupfs driver, as on these machines
NO_MESH = {"istio": {"enabled": False, "ingressGateway": {"enabled": False}}}


@dataclass(frozen=True)
class Container:
    pod: str
    name: str
    pod_uid: str
    container_id: str


def _containers(release: Release, namespaces: tuple[str, ...]) -> list[Container]:
    found = []
    for namespace in namespaces:
        pods = json.loads(release.cluster.kubectl("get", "pods", "-n", namespace, "-o", "json"))["items"]
        for pod in pods:
            if pod["metadata"].get("deletionTimestamp"):
                continue  # a pod of the previous phase, leaving
            # Istio's sidecar is a native sidecar here: an init container that keeps running beside the others.
            statuses = pod["status"].get("initContainerStatuses", []) + pod["status"].get("containerStatuses", [])
            for status in statuses:
                if status.get("containerID") and "running" in status.get("state", {}):
                    found.append(Container(pod["metadata"]["name"], status["name"], pod["metadata"]["uid"],
                                           status["containerID"].split("://", 1)[1]))  # fmt: skip
    return found


def _cgroup_file(name: str, container: Container) -> Path:
    """A file of the container's cgroup (cpuacct.usage, memory.stat), found by its id below the kubepods tree of
    whichever hierarchy holds it: the controllers are mounted apart here (cpu, cpuacct), joined elsewhere
    (cpu,cpuacct), and the QoS class and pod directories vary (kubepods[/<qos>]/pod<uid>/<container id>)."""
    for depth in ("*", "*/*", "*/*/*"):
        for path in CGROUPS.glob(f"*/kubepods/{depth}/{container.container_id}/{name}"):
            return path
    raise FileNotFoundError(f"no {name} for {container} below {CGROUPS}/*/kubepods")


def cpu_seconds(containers: list[Container]) -> float:
    """The CPU time the containers have used so far (cpuacct.usage, nanoseconds)."""
    return sum(int(_cgroup_file("cpuacct.usage", c).read_text()) for c in containers) / 1e9


def rss_mib(container: Container) -> float:
    stat = dict(line.split() for line in _cgroup_file("memory.stat", container).read_text().splitlines())
    return int(stat["total_rss"]) / 2**20


@dataclass
class Phase:
    mesh: bool
    url: str
    release: Release
    product: str
    customer: dict[str, str]
    kafka: str

    async def measure(self, rate: float, seconds: float, idle_seconds: float) -> dict[str, Any]:
        # The release's pods; in the mesh, Istio's too (istiod, the ingress gateway), whose work is the mesh's cost.
        # Without it the ingress gateway idles, carrying nothing, and is left out.
        released = _containers(self.release, (self.release.namespace,))
        containers = released + (_containers(self.release, (mesh.NAMESPACE,)) if self.mesh else [])
        sidecars = [c for c in released if c.name == "istio-proxy"]
        assert bool(sidecars) == self.mesh, f"sidecars in the release's pods: {len(sidecars)}, mesh: {self.mesh}"
        before = cpu_seconds(containers)
        await asyncio.sleep(idle_seconds)
        idle = cpu_seconds(containers) - before
        results, outcomes = Results(), Outcomes(self.kafka)
        await outcomes.start()
        try:
            async with httpx.AsyncClient(base_url=self.url, timeout=10, headers=self.customer) as api:
                began, cpu_began = time.monotonic(), cpu_seconds(containers)
                tasks = await schedule(rate, seconds, lambda: place_order(api, self.product, results, outcomes, 30))
                await asyncio.gather(*tasks)
                took, cpu = time.monotonic() - began, cpu_seconds(containers) - cpu_began
        finally:
            await outcomes.stop()
        confirmed = len(results.confirmations)
        return {
            "mesh": self.mesh,
            "orders confirmed": confirmed,
            "errors": results.order_errors,
            "CPU-ms per order": round(1000 * cpu / max(confirmed, 1), 1),
            "CPU-ms per order above idle": round(1000 * (cpu - idle / idle_seconds * took) / max(confirmed, 1), 1),
            "idle CPU (cores)": round(idle / idle_seconds, 3),
            "placement p50 ms": _ms(results.placements, 50),
            "placement p99 ms": _ms(results.placements, 99),
            "placed -> confirmed p99 ms": _ms(results.confirmations, 99),
            "sidecar RSS MiB (median, max)": _spread([rss_mib(c) for c in sidecars]),
            "pods' RSS MiB (release and Istio)": round(sum(rss_mib(c) for c in containers), 0),
        }


def _ms(values: list[float], p: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(1000 * ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))], 1)


def _spread(values: list[float]) -> list[float] | None:
    return [round(statistics.median(values), 1), round(max(values), 1)] if values else None


def switch(platform: ClusterPlatform, on: bool) -> str:
    """The release with sidecars (on) or without (off): every pod recreated; the API's address."""
    release, cluster = platform.release, platform.cluster
    assert release is not None and cluster is not None
    release.overrides = platform.values if on else merge_values(platform.values, NO_MESH)
    release.install(release.values(release_tag(platform)))
    cluster.kubectl("rollout", "restart", "deployment", "-n", release.namespace)
    release.wait_available()
    return mesh.edge_url(cluster) if on else release.service_url("gateway")


def release_tag(platform: ClusterPlatform) -> str:
    return str(json.loads(platform.endpoints_file.read_text())["image_tag"])


async def _seed(url: str, platform: ClusterPlatform) -> str:
    assert platform.release is not None
    (product,) = await seed_through_api(url, platform.release.issuer.admin_token(), count=1, stock=1_000_000)
    return product


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=4.0, help="orders a second (default 4)")
    parser.add_argument("--seconds", type=float, default=60.0, help="each phase's load (default 60)")
    parser.add_argument("--rounds", type=int, default=2, help="on/off pairs (default 2)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    state = Path(tempfile.mkdtemp(prefix="tessera-mesh-cost-"))
    # One customer far above a customer's rate limit: counted, never reached. One replica of each service in every
    # phase: the autoscalers would otherwise add replicas in one phase and not in the other.
    one_each = {spec.name: {"autoscaling": {"minReplicas": 1, "maxReplicas": 1}} for spec in registry().services}
    values = {"auth": {"rateLimit": "100000/second"}, "services": one_each}
    platform = ClusterPlatform(state, chart=CHART, values=values, mesh=True)
    figures: list[dict[str, Any]] = []
    try:
        endpoints = platform.start(build=False)
        assert platform.release is not None
        product = asyncio.run(_seed(endpoints["gateway"], platform))
        customer = {"Authorization": f"Bearer {platform.release.issuer.customer_token('c-mesh-cost')}"}
        for _ in range(args.rounds):
            for on in (True, False):
                url = switch(platform, on)
                phase = Phase(on, url, platform.release, product, customer, endpoints["kafka"])
                figures.append(asyncio.run(phase.measure(args.rate, args.seconds, idle_seconds=20)))
                print(json.dumps(figures[-1]), flush=True)
    finally:
        platform.stop()
        shutil.rmtree(state, ignore_errors=True)
    print(f"\nthe mesh's cost ({args.rate:g} orders/s for {args.seconds:g} s a phase):")
    for key in figures[0]:
        print(f"  {key:40} " + "  ".join(f"{f[key]!s:>14}" for f in figures))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1))
