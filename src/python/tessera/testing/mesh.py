"""Envoy's own counters in the mesh's proxies (a pod's sidecar, the edge's ingress gateway), read through
pilot-agent from inside the proxy container: what the mesh did to each request, counted where it happened."""

from __future__ import annotations

from tessera.localcluster.mesh import INGRESS_NAME
from tessera.localcluster.mesh import NAMESPACE as MESH_NAMESPACE
from tessera.testing.cluster import Shop


def proxy_admin(shop: Shop, pod: str, path: str, namespace: str | None = None) -> str:
    """GET `path` of the Envoy admin API of the proxy in `pod` (or `deploy/<name>`): stats, clusters, certs..."""
    return shop.release.cluster.kubectl(
        "-n", namespace or shop.release.namespace, "exec", pod, "-c", "istio-proxy", "--",
        "pilot-agent", "request", "GET", path,
    )  # fmt: skip


def envoy_stats(shop: Shop, pod: str, namespace: str | None = None) -> dict[str, int]:
    """Every counter and gauge of the proxy in `pod` (or `deploy/<name>`), by Envoy's name for it."""
    text = proxy_admin(shop, pod, "stats", namespace)
    stats = {}
    for line in text.splitlines():
        name, _, value = line.partition(": ")
        if value.isdigit():
            stats[name] = int(value)
    return stats


def by_upstream(stats: dict[str, int], stat: str, service_prefix: str) -> dict[str, int]:
    """One counter of the proxy's outbound clusters (e.g. `upstream_rq_total`), by the upstream's service name, for
    the services whose name begins with `service_prefix`. Envoy names a cluster outbound|<port>|<subset>|<host>."""
    counts: dict[str, int] = {}
    for name, value in stats.items():
        if not name.startswith("cluster.outbound|") or not name.endswith(f".{stat}"):
            continue
        host = name.removesuffix(f".{stat}").rsplit("|", 1)[1]
        service = host.split(".", 1)[0]
        if service.startswith(service_prefix):
            counts[service] = counts.get(service, 0) + value
    return counts


def edge_requests(shop: Shop, service_prefix: str) -> dict[str, int]:
    """Requests the mesh's edge (the ingress gateway's Envoy) sent to each upstream service whose name begins with
    `service_prefix` (e.g. the gateway's primary copy and its canary)."""
    stats = envoy_stats(shop, f"deploy/{INGRESS_NAME}", MESH_NAMESPACE)
    return by_upstream(stats, "upstream_rq_total", service_prefix)


def upstream_hosts(shop: Shop, pod: str, service: str) -> dict[str, dict[str, str]]:
    """The endpoints the proxy in `pod` balances `service`'s calls over, by pod address: Envoy's /clusters for each
    (its `rq_total`, and `health_flags`, e.g. /failed_outlier_check while outlier detection ejects it)."""
    text = proxy_admin(shop, pod, "clusters")
    hosts: dict[str, dict[str, str]] = {}
    for line in text.splitlines():
        # outbound|50052||tessera-inventory.tessera.svc.cluster.local::10.244.0.23:50052::rq_total::123
        cluster, _, rest = line.partition("::")
        if not cluster.startswith("outbound|") or cluster.rsplit("|", 1)[1].split(".", 1)[0] != service:
            continue
        address, _, field = rest.partition("::")
        name, _, value = field.partition("::")
        host = hosts.setdefault(address.rsplit(":", 1)[0], {"rq_total": "0", "health_flags": ""})
        if name == "rq_total":  # summed over the service's ports (a cluster each)
            host["rq_total"] = str(int(host["rq_total"]) + int(value))
        elif name == "health_flags" and value != "healthy":
            host["health_flags"] += value
    return hosts
