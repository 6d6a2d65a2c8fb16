"""KEDA in the cluster: the HPA's custom and external metrics (request rate, Kafka lag) from Prometheus.

prometheus-adapter is not served by the Go module proxy; KEDA is, and its metrics server is the cluster's
external-metrics API. The chart's ScaledObjects (`keda.enabled`) make KEDA own each service's HPA, on CPU plus a
Prometheus query. The manifests are KEDA's own (its module's kustomize config, rendered by kubectl), with our
images and no pulls; its admission webhooks are left out (they only validate ScaledObjects as they are written).
"""

from __future__ import annotations

import subprocess
from typing import TYPE_CHECKING, Any

import yaml

from tessera.localcluster.binaries import KEDA_OPERATOR
from tessera.localcluster.images import KEDA_IMAGE, KEDA_METRICS_SERVER_IMAGE
from tessera.localinfra.goprograms import module_dir
from tessera.localinfra.process import InfraError

if TYPE_CHECKING:
    from tessera.localcluster.access import ClusterAccess

NAMESPACE = "keda"
_IMAGES = {"keda-operator": KEDA_IMAGE, "keda-metrics-apiserver": KEDA_METRICS_SERVER_IMAGE}


def _is_webhook(document: dict[str, Any]) -> bool:
    """KEDA's admission webhooks: their Deployment, Service and configuration are all named keda-admission*."""
    name = str(document.get("metadata", {}).get("name", ""))
    return document.get("kind") == "ValidatingWebhookConfiguration" or name.startswith("keda-admission")


def manifests(cluster: ClusterAccess) -> str:
    config = module_dir(KEDA_OPERATOR.module, KEDA_OPERATOR.version) / "config" / "default"
    rendered = subprocess.run(
        [cluster.binaries["kubectl"], "kustomize", str(config)], capture_output=True, text=True, check=False
    )
    if rendered.returncode != 0:
        raise InfraError(f"kubectl kustomize {config} failed: {rendered.stderr[-1500:]}")
    documents = [d for d in yaml.safe_load_all(rendered.stdout) if d and not _is_webhook(d)]
    for document in documents:
        if document["kind"] != "Deployment":
            continue
        container = document["spec"]["template"]["spec"]["containers"][0]
        image = _IMAGES[document["metadata"]["name"]]
        container["image"] = image
        container["imagePullPolicy"] = "Never"
        # Our images hold one program, named after the image.
        container["command"] = ["/" + image.rsplit("/", 1)[-1].split(":")[0]]
    return yaml.safe_dump_all(documents)


def apply(cluster: ClusterAccess) -> None:
    """Installs KEDA and waits until the external-metrics API it serves answers."""
    # Its CRDs are too large for the annotation of a client-side apply.
    cluster.apply(manifests(cluster), server_side=True)
    for name in _IMAGES:
        cluster.kubectl("rollout", "status", f"deployment/{name}", "-n", NAMESPACE, "--timeout=240s", timeout=260)
    cluster.kubectl("wait", "--for=condition=Available", "apiservice/v1beta1.external.metrics.k8s.io",
                    "--timeout=120s", timeout=140)  # fmt: skip
