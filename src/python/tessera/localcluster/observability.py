"""The platform's observability add-ons in the cluster: Jaeger (traces) and Prometheus (metrics of every pod).

They sit where the chart's defaults expect them: OTLP at jaeger-collector.observability.svc:4317, Prometheus at
prometheus-operated.monitoring.svc:9090 (the address Flagger's analysis queries). Prometheus finds the pods
through the Kubernetes API and scrapes those annotated `prometheus.io/scrape`, as the chart's pods are; each
series gets the `namespace`, `pod` and `service` labels the dashboards, alerts and canary checks select on.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from tessera.localcluster.images import JAEGER_IMAGE, PROMETHEUS_IMAGE, RESTRICTED_CONTAINER
from tessera.localinfra.jaeger import JaegerPorts, jaeger_config

if TYPE_CHECKING:
    from tessera.localcluster.access import ClusterAccess

JAEGER_NAMESPACE = "observability"
PROMETHEUS_NAMESPACE = "monitoring"
SCRAPE_INTERVAL = "5s"

_JAEGER = """
apiVersion: v1
kind: Namespace
metadata: {name: observability}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: jaeger, namespace: observability}
data:
  config.yaml: CONFIG
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: jaeger, namespace: observability, labels: {app.kubernetes.io/name: jaeger}}
spec:
  replicas: 1
  selector: {matchLabels: {app.kubernetes.io/name: jaeger}}
  template:
    metadata: {labels: {app.kubernetes.io/name: jaeger}}
    spec:
      automountServiceAccountToken: false
      containers:
        - name: jaeger
          image: JAEGER_IMAGE
          imagePullPolicy: Never
          args: ["--config=/etc/jaeger/config.yaml"]
          ports:
            - {name: otlp-grpc, containerPort: 4317}
            - {name: query-http, containerPort: 16686}
            - {name: health, containerPort: 13133}
          readinessProbe:
            httpGet: {path: /status, port: health}
            periodSeconds: 2
          securityContext: RESTRICTED
          resources:
            requests: {cpu: 20m, memory: 64Mi}
            limits: {memory: 512Mi}
          volumeMounts: [{name: config, mountPath: /etc/jaeger, readOnly: true}]
      volumes: [{name: config, configMap: {name: jaeger}}]
---
apiVersion: v1
kind: Service
metadata: {name: jaeger-collector, namespace: observability}
spec:
  selector: {app.kubernetes.io/name: jaeger}
  ports: [{name: otlp-grpc, port: 4317, targetPort: otlp-grpc, appProtocol: grpc}]
---
apiVersion: v1
kind: Service
metadata: {name: jaeger-query, namespace: observability}
spec:
  selector: {app.kubernetes.io/name: jaeger}
  ports: [{name: http, port: 16686, targetPort: query-http, appProtocol: http}]
"""

_PROMETHEUS = """
apiVersion: v1
kind: Namespace
metadata: {name: monitoring}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: prometheus, namespace: monitoring}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: tessera-prometheus}
rules:
  - apiGroups: [""]
    resources: [pods, services, endpoints, nodes]
    verbs: [get, list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: tessera-prometheus}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: tessera-prometheus}
subjects: [{kind: ServiceAccount, name: prometheus, namespace: monitoring}]
---
apiVersion: v1
kind: ConfigMap
metadata: {name: prometheus, namespace: monitoring}
data:
  prometheus.yml: CONFIG
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: prometheus, namespace: monitoring, labels: {app.kubernetes.io/name: prometheus}}
spec:
  replicas: 1
  strategy: {type: Recreate}
  selector: {matchLabels: {app.kubernetes.io/name: prometheus}}
  template:
    metadata: {labels: {app.kubernetes.io/name: prometheus}}
    spec:
      serviceAccountName: prometheus
      containers:
        - name: prometheus
          image: PROMETHEUS_IMAGE
          imagePullPolicy: Never
          args:
            - --config.file=/etc/prometheus/prometheus.yml
            - --storage.tsdb.path=/data
            - --storage.tsdb.retention.time=6h
            - --web.listen-address=:9090
          ports: [{name: http, containerPort: 9090}]
          readinessProbe:
            httpGet: {path: /-/ready, port: http}
            periodSeconds: 2
          securityContext: RESTRICTED
          resources:
            requests: {cpu: 50m, memory: 128Mi}
            limits: {memory: 1Gi}
          volumeMounts:
            - {name: config, mountPath: /etc/prometheus, readOnly: true}
            - {name: data, mountPath: /data}  # not /prometheus: the program is there
      volumes:
        - {name: config, configMap: {name: prometheus}}
        - {name: data, emptyDir: {}}
---
apiVersion: v1
kind: Service
metadata: {name: prometheus-operated, namespace: monitoring}
spec:
  selector: {app.kubernetes.io/name: prometheus}
  ports: [{name: http, port: 9090, targetPort: http, appProtocol: http}]
"""


def prometheus_config() -> dict[str, object]:
    """Every pod annotated for scraping, on the port its annotation names, labelled as the chart's rules expect."""
    meta = "__meta_kubernetes_pod_"
    return {
        "global": {"scrape_interval": SCRAPE_INTERVAL, "evaluation_interval": SCRAPE_INTERVAL},
        "scrape_configs": [
            {
                "job_name": "tessera",
                "kubernetes_sd_configs": [{"role": "pod"}],
                "relabel_configs": [
                    {"source_labels": [f"{meta}annotation_prometheus_io_scrape"], "regex": "true", "action": "keep"},
                    {"source_labels": [f"{meta}ip", f"{meta}annotation_prometheus_io_port"], "regex": "(.+);(\\d+)",
                     "replacement": "$1:$2", "target_label": "__address__"},
                    # In the mesh, Istio's injector points the annotations at pilot-agent, which serves the app's
                    # metrics merged with its sidecar's (/stats/prometheus on 15020, outside mTLS).
                    {"source_labels": [f"{meta}annotation_prometheus_io_path"], "regex": "(.+)",
                     "target_label": "__metrics_path__"},
                    {"source_labels": ["__meta_kubernetes_namespace"], "target_label": "namespace"},
                    {"source_labels": [f"{meta}name"], "target_label": "pod"},
                    # A canary controller's primary copy of a service (orders-primary) is still that service.
                    {"source_labels": [f"{meta}label_app_kubernetes_io_name"], "regex": "(.+?)(-primary)?",
                     "target_label": "service"},
                ],
            }  # fmt: skip
        ],
    }


def manifests() -> str:
    jaeger = json.dumps(json.dumps(jaeger_config("0.0.0.0", JaegerPorts())))  # a YAML string holding JSON
    prometheus = json.dumps(json.dumps(prometheus_config()))
    return (
        _JAEGER.replace("JAEGER_IMAGE", JAEGER_IMAGE).replace("CONFIG", jaeger)
        + "---"
        + _PROMETHEUS.replace("PROMETHEUS_IMAGE", PROMETHEUS_IMAGE).replace("CONFIG", prometheus)
    ).replace("RESTRICTED", RESTRICTED_CONTAINER)


def apply(cluster: ClusterAccess) -> None:
    """Applies Jaeger and Prometheus and waits until both are ready."""
    cluster.apply(manifests())
    for namespace, name in ((JAEGER_NAMESPACE, "jaeger"), (PROMETHEUS_NAMESPACE, "prometheus")):
        cluster.kubectl("rollout", "status", f"deployment/{name}", "-n", namespace, "--timeout=180s", timeout=200)
