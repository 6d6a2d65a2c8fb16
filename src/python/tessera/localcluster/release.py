"""The chart on the local cluster: images loaded, the data stores' Secret, `helm install/upgrade/rollback`, and
waiting until every Deployment is Available (printing the failing pods' events and logs when one is not).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tessera.kit.db import ensure_database
from tessera.localcluster.cluster import LocalCluster
from tessera.localcluster.images import SERVICE_REGISTRY, ImageLoader
from tessera.localinfra import InfraEndpoints
from tessera.localinfra.images import Containers
from tessera.localinfra.issuer import DevIssuer
from tessera.localinfra.process import InfraError
from tessera.topology import registry

RELEASE = "tessera"
NAMESPACE = "tessera"
POSTGRES_SECRET = "tessera-postgres"
MONGO_SECRET = "tessera-mongo"


def built_image(service: str) -> str:
    """The name `./pants package src/python/tessera/<service>:image` gives the image in the podman storage."""
    return f"localhost/tessera/{service}:latest"


def node_replicas() -> int:
    """The most replicas of one service the node holds: one per core.

    Past that, a scale-out starves the node: a Python pod starts on a full core for seconds, every pod's CPU
    share rises, and the CPU autoscalers add more (seen on two cores: 24 pods, the saga's rollout 228 s, the
    gateway's calls past their deadlines). The chart's own ceilings (10-12) are a production cluster's.
    """
    return max(1, len(os.sched_getaffinity(0)))  # the cores this process may use, not the machine's


def load_service_images(cluster: LocalCluster, tag: str | None = None) -> str:
    """Loads every service's built image into the cluster under one tag (by default, one derived from the images'
    ids, so a rebuild gives a new tag); returns the tag. It needs the cluster only, not the release's stores."""
    containers = Containers.prepare()
    ids = {}
    for spec in registry().services:
        shown = containers.buildah("inspect", "--type", "image", "--format", "{{.FromImageID}}", built_image(spec.name))
        if shown.returncode != 0:
            raise InfraError(
                f"no image {built_image(spec.name)}: build the images first with `./pants package "
                f"src/python/tessera/{spec.name}:image` (BASE_IMAGE=$(./pants run "
                "src/python/tessera/localinfra:base-image) where no registry is reachable)"
            )
        ids[spec.name] = shown.stdout.strip()
    tag = tag or "local-" + hashlib.sha256(json.dumps(ids, sort_keys=True).encode()).hexdigest()[:10]
    loader = ImageLoader(cluster.binaries, cluster.containerd_socket, cluster.state_dir / "images")
    present = loader.present()
    wanted = {built_image(s.name): f"{SERVICE_REGISTRY}/{s.name}:{tag}" for s in registry().services}
    # Two at a time: each is an export from buildah's storage and an import into containerd, mostly hashing and
    # copying; one after another the seven took 108 s of a cluster's start.
    with ThreadPoolExecutor(max_workers=2) as pool:
        loads = [
            pool.submit(loader.load_from_storage, containers, local, name)
            for local, name in wanted.items()
            if name not in present
        ]
        for load in loads:
            load.result()
    return tag


@dataclass
class Release:
    cluster: LocalCluster
    infra: InfraEndpoints
    chart: Path
    issuer: DevIssuer  # the API's tokens: its public keys go into the chart's `auth` values
    name: str = RELEASE
    namespace: str = NAMESPACE
    overrides: dict[str, Any] = field(default_factory=dict)  # merged into every install's values

    def helm(self, *args: str, timeout: float = 600) -> str:
        result = subprocess.run(
            [self.cluster.binaries["helm"], "--kubeconfig", str(self.cluster.kubeconfig), "-n", self.namespace,
             *args],
            capture_output=True, text=True, timeout=timeout, check=False,
        )  # fmt: skip
        if result.returncode != 0:
            raise InfraError(f"helm {' '.join(args[:2])} failed: {result.stderr.strip()[-3000:]}")
        return result.stdout

    # --- images --------------------------------------------------------------------------------------------
    def load_images(self, tag: str | None = None) -> str:
        """Loads every service's built image into the cluster under one tag; returns the tag."""
        return load_service_images(self.cluster, tag)

    # --- values and secrets --------------------------------------------------------------------------------
    def values(self, tag: str, **overrides: Any) -> dict[str, Any]:
        """Values for this cluster: local images, the data stores on the node's address, no mesh or edge."""
        values: dict[str, Any] = {
            "image": {"registry": SERVICE_REGISTRY, "tag": tag, "pullPolicy": "Never"},
            "environment": "local-cluster",
            "infrastructure": {
                "postgres": {"existingSecret": POSTGRES_SECRET},
                "mongo": {"existingSecret": MONGO_SECRET, "databasePrefix": "tessera_"},
                "redis": {"url": self.infra.redis_url},
                "kafka": {"bootstrap": self.infra.kafka_bootstrap, "partitions": 4, "replication": 1},
            },
            # One replica each on two cores. KEDA scales on CPU and on Prometheus' request rate (Kafka lag for
            # the stream processors); with these small memory requests, the steady footprint alone would hold
            # replicas, so memory is left out. The CPU requests are small so that every pod fits the node; the
            # CPU target is 150m a pod (300 % of them), as the chart's 70 % of 50m would add a replica of every
            # service at 4 orders/s (seen: each pod at 60-95m), and the pods it adds starve the node.
            "serviceDefaults": {
                "autoscaling": {
                    "minReplicas": 1,
                    "customMetrics": True,
                    "memoryUtilization": None,
                    "cpuUtilization": 300,
                },
                "resources": {"requests": {"cpu": "50m", "memory": "160Mi"}},
            },
            # Per service, not in serviceDefaults: the chart's values set the saga's and projections' own ceilings.
            "services": {spec.name: {"autoscaling": {"maxReplicas": node_replicas()}} for spec in registry().services},
            "keda": {"enabled": True},
            "istio": {"enabled": False},
            "kong": {"enabled": False},
            "flagger": {"enabled": False},
            "monitoring": {"serviceMonitor": {"enabled": False}, "prometheusRule": {"enabled": False}},
            "fluentBit": {"enabled": False},
            "auth": self.issuer.chart_values(),
        }
        return merge_values(merge_values(values, self.overrides), overrides)

    def write_values(self, values: dict[str, Any]) -> Path:
        path = self.cluster.state_dir / "values.json"
        path.write_text(json.dumps(values, indent=1))
        return path

    def ensure_namespace_and_secret(self) -> None:
        """The namespace, and the Secrets of the stores, as a secret manager would: one PostgreSQL DSN per service
        (a database each), and the MongoDB-protocol server's URL."""
        if self.namespace not in self.cluster.kubectl("get", "namespaces", "-o", "name"):
            self.cluster.kubectl("create", "namespace", self.namespace)
        # Istio's injector adds a sidecar to every pod created in a namespace so labelled.
        injection = "enabled" if self.overrides.get("istio", {}).get("enabled") else "disabled"
        self.cluster.kubectl("label", "--overwrite", "namespace", self.namespace, f"istio-injection={injection}")
        dsns = {}
        for service in (s.name for s in registry().services if s.uses("postgres")):
            dsns[f"{service}-dsn"] = asyncio.run(ensure_database(self.infra.postgres_dsn, f"tessera_{service}"))
        self._apply_secret(POSTGRES_SECRET, dsns)
        self._apply_secret(MONGO_SECRET, {"url": self.infra.mongo_url})

    def _apply_secret(self, name: str, data: dict[str, str]) -> None:
        manifest = {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": name, "namespace": self.namespace},
            "stringData": data,
        }
        subprocess.run(
            [self.cluster.binaries["kubectl"], "--kubeconfig", str(self.cluster.kubeconfig), "apply", "-f", "-"],
            input=json.dumps(manifest), capture_output=True, text=True, check=True,
        )  # fmt: skip

    # --- releases ------------------------------------------------------------------------------------------
    def install(self, values: dict[str, Any], timeout: float = 600) -> None:
        """`helm upgrade --install`, then waits until every Deployment is Available."""
        self.ensure_namespace_and_secret()
        path = self.write_values(values)
        self.helm("upgrade", "--install", self.name, str(self.chart), "-f", str(path), timeout=timeout)
        self.wait_available(timeout)

    def rollback(self, revision: int | None = None, timeout: float = 600) -> None:
        self.helm("rollback", self.name, *([str(revision)] if revision else []), "--wait",
                  f"--timeout={int(timeout)}s", timeout=timeout + 30)  # fmt: skip
        self.wait_available(timeout)

    def history(self) -> list[dict[str, Any]]:
        return list(json.loads(self.helm("history", self.name, "-o", "json")))

    def wait_available(self, timeout: float = 600) -> None:
        result = subprocess.run(
            [self.cluster.binaries["kubectl"], "--kubeconfig", str(self.cluster.kubeconfig), "-n", self.namespace,
             "rollout", "status", "deployment", f"--timeout={int(timeout)}s"],
            capture_output=True, text=True, timeout=timeout + 30, check=False,
        )  # fmt: skip
        if result.returncode != 0:
            raise InfraError(f"the release did not become Available:\n{result.stderr[-1000:]}\n{self.diagnose()}")

    def diagnose(self) -> str:
        """Events and logs of every pod that is not ready: what a user needs to see why a release failed."""
        pods = json.loads(self.cluster.kubectl("get", "pods", "-n", self.namespace, "-o", "json", check=False) or "{}")
        report = []
        for pod in pods.get("items", []):
            statuses = pod.get("status", {}).get("containerStatuses", [])
            if statuses and all(s.get("ready") for s in statuses):
                continue
            name = pod["metadata"]["name"]
            report.append(f"--- pod {name}: {json.dumps(statuses)[:1500]}")
            report.append(self.cluster.kubectl("get", "events", "-n", self.namespace, "--field-selector",
                                               f"involvedObject.name={name}", check=False)[-2000:])  # fmt: skip
            report.append(self.cluster.kubectl("logs", "-n", self.namespace, name, "--tail=40", "--all-containers",
                                               check=False)[-4000:])  # fmt: skip
        return "\n".join(report) or "(every pod is ready)"

    def service_url(self, service: str, port_name: str = "http") -> str:
        return self.cluster.service_url(self.namespace, f"{self.name}-{service}", port_name)


def merge_values(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """`overrides` laid over `base`, key by key at every depth (as helm merges values files)."""
    merged = dict(base)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge_values(merged[key], value)
        else:
            merged[key] = value
    return merged
