"""What the cluster's add-ons need of a running cluster: its binaries, its API, its paths.

The add-ons (CoreDNS, metrics, Istio, Prometheus and Jaeger, Flagger, KEDA) take this, not `LocalCluster`, so
`cluster.py` can install some of them while it starts without the modules importing one another.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from tessera.localcluster.binaries import Binaries


class ClusterAccess(Protocol):
    @property
    def state_dir(self) -> Path: ...

    @property
    def binaries(self) -> Binaries: ...

    @property
    def kubeconfig(self) -> Path: ...

    @property
    def containerd_socket(self) -> Path: ...

    def kubectl(self, *args: str, check: bool = True, timeout: float = 120) -> str: ...

    def apply(self, manifests: str, *, server_side: bool = False) -> None:
        """`kubectl apply` of YAML manifests."""

    def service_url(self, namespace: str, name: str, port_name: str) -> str:
        """http://<ClusterIP>:<port> of a Service, reachable from the host."""
