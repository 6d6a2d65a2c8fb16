"""`./pants run src/python/tessera/localcluster:up`: Tessera on a real single-node Kubernetes, until Ctrl-C.

Prepares the binaries once (cache), starts the cluster and the data stores (PostgreSQL, Redis, Kafka on the
node's address, as the chart's external endpoints), builds every service image with `pants package`, loads them
into the cluster, installs the chart and waits until every Deployment is Available. Jaeger, Prometheus,
Flagger and KEDA run in the cluster beside it, where the chart's defaults expect them. Ctrl-C, or
`./pants run src/python/tessera/localcluster:down`, removes everything and restores the host's settings.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tessera.localcluster import autoscaling, canary, host, mesh, observability
from tessera.localcluster import binaries as cluster_binaries
from tessera.localcluster.cluster import CLUSTER_CIDR, NODE_IP, LocalCluster, stop_process_group
from tessera.localcluster.release import Release, load_service_images, merge_values
from tessera.localinfra import LocalInfra
from tessera.localinfra.issuer import DevIssuer
from tessera.localinfra.process import InfraError
from tessera.topology import registry

CHART = Path("helm/tessera")
DEFAULT_STATE_DIR = Path(".tessera/cluster")


def log(message: str) -> None:
    print(message, flush=True)


@dataclass
class ClusterPlatform:
    """The cluster, the data stores and the release: one object to bring up and take down."""

    state_dir: Path
    chart: Path = CHART
    cluster: LocalCluster | None = None
    infra: LocalInfra | None = None
    release: Release | None = None
    values: dict[str, Any] = field(default_factory=dict)  # the chart values every install of the release gets
    # Istio's sidecars in every pod of the release, and its ingress gateway as the edge (mesh.py).
    mesh: bool = False
    tag: str = ""  # the service images' tag in the cluster, once loaded

    @property
    def endpoints_file(self) -> Path:
        return self.state_dir / "endpoints.json"

    @property
    def infra_pids(self) -> Path:
        return self.state_dir / "infra-pids.json"

    def start(self, *, build: bool, build_root: Path | None = None) -> dict[str, str]:
        began = time.monotonic()
        host.require_root()
        cluster_binaries.install_debian_tools()
        binaries = cluster_binaries.prepare(log)
        prepared = time.monotonic()
        self.cluster = LocalCluster(self.state_dir / "k8s", binaries, log=log)
        log("starting the cluster (etcd, control plane, containerd, kubelet, kube-proxy, CoreDNS, metrics-server)")
        self.cluster.start()
        cluster_up = time.monotonic()
        log(f"cluster ready in {self.cluster.timings['cluster ready']:.1f} s")
        if self.mesh:
            self.values = merge_values(mesh.release_values(), self.values)
        # The add-ons, Istio, and the data stores with the service images are independent of one another, and each
        # mostly waits (on its pods' probes, Kafka's start, image imports): side by side, not one after another.
        log("starting Jaeger, Prometheus, Flagger, KEDA" + (", Istio" if self.mesh else "")
            + ", the data stores (PostgreSQL, Redis, Kafka), and loading the images")  # fmt: skip
        steps: dict[str, Callable[[], object]] = {"Jaeger, Prometheus, Flagger, KEDA ready": self._start_addons}
        if self.mesh:
            steps["Istio ready"] = functools.partial(mesh.apply, self.cluster, log)
        steps["data stores started"] = self._start_stores
        steps["service images loaded"] = functools.partial(self._load_images, build, build_root)
        with ThreadPoolExecutor(max_workers=len(steps)) as pool:
            running = {what: pool.submit(_timed, step) for what, step in steps.items()}
            side_by_side = {what: future.result() for what, future in running.items()}
        assert self.infra is not None
        issuer = DevIssuer(self.state_dir / "issuer")  # tools:token -- --cluster signs with it
        self.release = Release(self.cluster, self.infra.endpoints, self.chart, issuer, overrides=self.values)
        installed = time.monotonic()
        log(f"helm install (images tagged {self.tag})")
        self.release.install(self.release.values(self.tag))
        available = time.monotonic()
        endpoints = {
            "gateway": mesh.edge_url(self.cluster) if self.mesh else self.release.service_url("gateway"),
            "catalog_grpc": self.release.service_url("catalog", "grpc").removeprefix("http://"),
            "inventory_grpc": self.release.service_url("inventory", "grpc").removeprefix("http://"),
            "jaeger": self.cluster.service_url(observability.JAEGER_NAMESPACE, "jaeger-query", "http"),
            "prometheus": self.cluster.service_url(observability.PROMETHEUS_NAMESPACE, "prometheus-operated", "http"),
            "kubeconfig": str(self.cluster.kubeconfig.resolve()),
            "namespace": self.release.namespace,
            "release": self.release.name,
            "image_tag": self.tag,
            "postgres": self.infra.endpoints.postgres_dsn,
            "redis": self.infra.endpoints.redis_url,
            "kafka": self.infra.endpoints.kafka_bootstrap,
        }
        self.endpoints_file.write_text(json.dumps(endpoints, indent=2))
        timings = {
            "binaries (cached after the first run)": prepared - began,
            **{f"cluster: {k}": v for k, v in self.cluster.timings.items()},
            **side_by_side,
            "cluster up -> all of those": installed - cluster_up,
            "helm install -> all Available": available - installed,
            "total": time.monotonic() - began,
        }
        (self.state_dir / "timings.json").write_text(json.dumps(timings, indent=2))
        return endpoints

    def _start_addons(self) -> None:
        assert self.cluster is not None
        observability.apply(self.cluster)
        canary.apply(self.cluster)
        autoscaling.apply(self.cluster)

    def _start_stores(self) -> None:
        """The data stores on the node's address (the chart's external endpoints)."""
        self.infra = LocalInfra(self.state_dir / "infra", host=NODE_IP, client_network=CLUSTER_CIDR)
        self.infra.start()
        self.infra_pids.write_text(json.dumps(self.infra.pids()))

    def _load_images(self, build: bool, build_root: Path | None) -> None:
        assert self.cluster is not None
        if build:
            build_images(build_root or Path.cwd())
        self.tag = load_service_images(self.cluster)

    def stop(self) -> None:
        """Stops everything this state directory holds, even if another process started it."""
        if self.infra is not None:
            self.infra.stop()
        elif self.infra_pids.exists():
            # Started by another process (up --detach, or one that died): SIGINT is PostgreSQL's fast shutdown.
            for pid in json.loads(self.infra_pids.read_text()).values():
                stop_process_group(pid, first=signal.SIGINT)
        self.infra_pids.unlink(missing_ok=True)
        cluster = self.cluster or LocalCluster(self.state_dir / "k8s", cluster_binaries.prepare(log), log=log)
        cluster.stop()
        self.endpoints_file.unlink(missing_ok=True)


def build_images(build_root: Path) -> None:
    """Every service image, built by Pants (on the local Debian base where no registry is reachable)."""
    pants = build_root / "pants"
    if not pants.exists():
        raise InfraError(f"{pants} not found: run this from the repository's root")
    targets = [f"src/python/tessera/{spec.name}:image" for spec in registry().services]
    log(f"building {len(targets)} images with pants package")
    # ./pants builds them on a local Debian base where no Docker engine and no registry can be had.
    built = subprocess.run(
        [str(pants), "--no-pantsd", "package", *targets], cwd=build_root, capture_output=True, text=True, check=False
    )
    if built.returncode != 0:
        raise InfraError(f"pants package failed:\n{built.stdout[-2000:]}\n{built.stderr[-4000:]}")


def _timed(step: Callable[[], object]) -> float:
    started = time.monotonic()
    step()
    return time.monotonic() - started


@contextlib.contextmanager
def _stop_on_signals() -> Iterator[threading.Event]:
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    yield stop


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--state-dir", type=Path, default=DEFAULT_STATE_DIR, help="the cluster's state (removed)")
    parser.add_argument("--no-build", action="store_true", help="use the images already built by pants package")
    parser.add_argument("--detach", action="store_true", help="leave it running; stop it with the down target")
    parser.add_argument("--no-mesh", action="store_true", help="without Istio: no sidecars, the gateway's Service")
    args = parser.parse_args()
    platform = ClusterPlatform(args.state_dir.resolve(), mesh=not args.no_mesh)
    try:
        with _stop_on_signals() as stop:
            endpoints = platform.start(build=not args.no_build)
            timings = json.loads((platform.state_dir / "timings.json").read_text())
            log(f"\nTessera runs on Kubernetes ({timings['total']:.0f} s):")
            edge = "through Istio's ingress gateway" if platform.mesh else "the gateway's Service"
            log(f"  gateway     {endpoints['gateway']}  (REST /v1, docs /docs, GraphQL /graphql; {edge})")
            log(f"  jaeger      {endpoints['jaeger']}  (traces: /api/traces?service=gateway)")
            log(f"  prometheus  {endpoints['prometheus']}  (API: /api/v1/query)")
            log(f"  kubeconfig  {endpoints['kubeconfig']}")
            log(f"  kubectl     {platform.cluster.binaries['kubectl'] if platform.cluster else 'kubectl'} "
                f"--kubeconfig {endpoints['kubeconfig']} -n {endpoints['namespace']} get pods")  # fmt: skip
            log(f"  endpoints   {platform.endpoints_file}")
            log("  a token     ./pants --no-pantsd run src/python/tessera/tools:token -- --cluster --customer c-1")
            if args.detach:
                log("left running; stop it with ./pants run src/python/tessera/localcluster:down")
                return
            log("Press Ctrl-C to stop and remove it.")
            stop.wait()
    except InfraError as exc:
        log(f"error: {exc}")
        log("removing what was started...")
        platform.stop()
        sys.exit(1)
    except BaseException:
        platform.stop()
        raise
    log("stopping...")
    platform.stop()
    log("stopped; the host's settings are restored.")


def down() -> None:
    parser = argparse.ArgumentParser(description="Stops the local cluster and restores the host's settings.")
    parser.add_argument("--state-dir", type=Path, default=DEFAULT_STATE_DIR)
    args = parser.parse_args()
    ClusterPlatform(args.state_dir.resolve()).stop()
    log("stopped; the host's settings are restored.")


if __name__ == "__main__":
    main()
