"""Flagger in the cluster: the chart's canaries, analysed on Prometheus' figures, promoted or rolled back by it.

Here Flagger runs with its `kubernetes` provider (no mesh runs in this cluster): it keeps a `-primary` copy of
each Deployment it drives, brings up the new version beside it, queries the chart's metric templates at every
interval, and promotes the new version or scales it back to zero. The chart's Services select both tracks, so
the canary takes its share of real traffic by replica count; with Istio the chart's `istio` provider weights it.
Its CRDs and RBAC are Flagger's own manifests, read from its Go module at the version we build.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tessera.localcluster.binaries import FLAGGER
from tessera.localcluster.images import FLAGGER_IMAGE, RESTRICTED_CONTAINER
from tessera.localcluster.observability import PROMETHEUS_NAMESPACE
from tessera.localinfra.goprograms import module_dir

if TYPE_CHECKING:
    from tessera.localcluster.access import ClusterAccess

NAMESPACE = "flagger-system"
PROMETHEUS_URL = f"http://prometheus-operated.{PROMETHEUS_NAMESPACE}.svc:9090"

_DEPLOYMENT = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: flagger, namespace: NAMESPACE, labels: {app: flagger}}
spec:
  replicas: 1
  strategy: {type: Recreate}
  selector: {matchLabels: {app: flagger}}
  template:
    metadata: {labels: {app: flagger}}
    spec:
      serviceAccountName: flagger
      containers:
        - name: flagger
          image: FLAGGER_IMAGE
          imagePullPolicy: Never
          args:
            - -log-level=info
            - -mesh-provider=kubernetes
            - -metrics-server=PROMETHEUS_URL
            - -control-loop-interval=5s
            # The chart's pods are selected by app.kubernetes.io/name; the primary copy gets <name>-primary.
            - -selector-labels=app.kubernetes.io/name
          ports: [{name: http, containerPort: 8080}]
          readinessProbe:
            httpGet: {path: /healthz, port: http}
            periodSeconds: 2
          livenessProbe:
            httpGet: {path: /healthz, port: http}
            periodSeconds: 10
          securityContext: RESTRICTED
          resources:
            requests: {cpu: 10m, memory: 32Mi}
            limits: {memory: 512Mi}
"""


def manifests() -> str:
    artifacts = module_dir(FLAGGER.module, FLAGGER.version) / "artifacts" / "flagger"
    account = (artifacts / "account.yaml").read_text().replace("namespace: default", f"namespace: {NAMESPACE}")
    deployment = (
        _DEPLOYMENT.replace("NAMESPACE", NAMESPACE)
        .replace("FLAGGER_IMAGE", FLAGGER_IMAGE)
        .replace("PROMETHEUS_URL", PROMETHEUS_URL)
        .replace("RESTRICTED", RESTRICTED_CONTAINER)
    )
    namespace = f"apiVersion: v1\nkind: Namespace\nmetadata: {{name: {NAMESPACE}}}\n"
    return "\n---\n".join([(artifacts / "crd.yaml").read_text(), namespace, account, deployment])


def apply(cluster: ClusterAccess) -> None:
    """Installs Flagger (CRDs, RBAC, controller) and waits until it runs and its CRDs are served."""
    cluster.apply(manifests())
    crds = ("crd/canaries.flagger.app", "crd/metrictemplates.flagger.app")
    cluster.kubectl("wait", "--for=condition=Established", *crds, "--timeout=60s", timeout=80)
    cluster.kubectl("rollout", "status", "deployment/flagger", "-n", NAMESPACE, "--timeout=180s", timeout=200)
