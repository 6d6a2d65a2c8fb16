"""The Helm chart, rendered by helm for several value sets, every object validated against the Kubernetes schemas
(kubernetes-validate, strict) or its CRD's schema (Istio, Flagger, Prometheus operator, from their Go modules),
and the platform's policies checked on what would be applied.

Kong's CRDs are not to be had here (the Go proxy refuses Kong's modules; no other registry carries them): Kong's
objects are checked for the fields Kong's controller requires, and `helm lint` passes; see helm/README.md.
"""

from __future__ import annotations

import functools
import json
import shutil
import subprocess
from collections import Counter
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from tessera.environments import Endpoints, environment
from tessera.localcluster.binaries import KEDA_TRIGGERS
from tessera.localcluster.release import merge_values
from tessera.localinfra import install
from tessera.testing.figures import record
from tessera.tools.dashboards import alert_rules, service_dashboard
from tessera.topology import parse, registry

CHART = Path("helm/tessera")
KUBERNETES_VERSION = "1.30.0"
SERVICES = registry().names
VALUE_SETS = {
    "defaults": [],
    # One service's settings and the feature flags changed: only that service's pods may roll.
    "orders-settings-and-flags-changed": [
        "--set",
        "services.orders.faultPercent=1",
        "--set",
        "featureFlags.flags.orders\\.placement-enabled.defaultVariant=off",
    ],
    "orders-own-tag": ["--set", "image.tag=1.0.0", "--set", "services.orders.imageTag=1.1.0"],
    "canary": ["--values", str(CHART / "ci" / "canary-values.yaml")],
    "flagger": ["--values", str(CHART / "ci" / "flagger-values.yaml")],
    "flagger-no-mesh": ["--values", str(CHART / "ci" / "flagger-no-mesh-values.yaml")],
    "keda": ["--values", str(CHART / "ci" / "external-values.yaml"), "--set", "keda.enabled=true"],
    "no-kong": ["--set", "kong.enabled=false"],
    "istio-edge": [
        "--set", "kong.enabled=false", "--set", "istio.ingressGateway.enabled=true",
        "--set", "edge.namespace=istio-system", "--set", "edge.serviceAccount=istio-ingressgateway",
    ],  # fmt: skip
    "external-no-mesh": ["--values", str(CHART / "ci" / "external-values.yaml")],
}
# Flagger's istio provider with the ingress gateway as the edge (as on the local cluster), weighted and A/B.
VALUE_SETS["flagger-edge"] = [*VALUE_SETS["istio-edge"], "--values", str(CHART / "ci" / "flagger-values.yaml")]
VALUE_SETS["flagger-edge-ab"] = [*VALUE_SETS["flagger-edge"], "--set", "flagger.analysis.abTesting=true"]
EDGE_POLICY = "tessera-edge-requires-a-token"
KONG_PLUGINS = {"jwt", "rate-limiting", "cors"}
AUTH_VALUES = CHART / "ci" / "auth-values.yaml"  # the chart requires an issuer: every value set has one

Manifest = dict[str, Any]


def _helm_template(*args: str, chart: Path = CHART) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [install.helm(), "template", "tessera", str(chart), "--namespace", "shop", "--kube-version",
         KUBERNETES_VERSION, *args],
        capture_output=True, text=True, check=False,
    )  # fmt: skip


@cache
def render(value_set: str) -> list[Manifest]:
    rendered = _helm_template("--values", str(AUTH_VALUES), *VALUE_SETS[value_set])
    assert rendered.returncode == 0, rendered.stderr
    return [doc for doc in yaml.safe_load_all(rendered.stdout) if doc]


def _strict(schema: Any) -> Any:
    """The CRD schema with unknown fields refused (as the API server prunes and kubectl --validate=strict warns)."""
    if isinstance(schema, dict):
        strict = {key: _strict(value) for key, value in schema.items()}
        pattern = strict.get("pattern")
        if isinstance(pattern, str) and "(?i)" in pattern[1:]:
            # Go's regexp takes inline flags anywhere; Python's only at the start.
            strict["pattern"] = "(?i)" + pattern.replace("(?i)", "")
        if "properties" in schema and not schema.get("x-kubernetes-preserve-unknown-fields"):
            strict.setdefault("additionalProperties", False)
        return strict
    if isinstance(schema, list):
        return [_strict(item) for item in schema]
    return schema


class _CrdLoader(yaml.SafeLoader):
    """YAML 1.1's `=` (the "value" tag) appears as a plain string in some CRDs' enums."""


def _as_string(loader: yaml.SafeLoader, node: yaml.Node) -> str:
    assert isinstance(node, yaml.ScalarNode)
    return str(loader.construct_scalar(node))


_CrdLoader.add_constructor("tag:yaml.org,2002:value", _as_string)


@cache
def crd_schemas() -> dict[tuple[str, str], Any]:
    """(apiVersion, kind) -> the openAPIV3Schema of every served version of every CRD we have."""
    schemas = {}
    for files in install.crd_files().values():
        for path in files:
            for crd in yaml.load_all(path.read_text(), Loader=_CrdLoader):  # - a SafeLoader
                if not crd or crd.get("kind") != "CustomResourceDefinition":
                    continue
                group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
                for version in crd["spec"]["versions"]:
                    schema = dict(version["schema"]["openAPIV3Schema"])
                    # Our objects carry the standard metadata; the CRDs leave it to the API server.
                    top = schema.setdefault("properties", {})
                    top.update(apiVersion={"type": "string"}, kind={"type": "string"}, metadata={"type": "object"})
                    schemas[(f"{group}/{version['name']}", kind)] = _strict(schema)
    return schemas


def validate(manifest: Manifest) -> None:
    key = (manifest["apiVersion"], manifest["kind"])
    if manifest["apiVersion"].startswith("configuration.konghq.com/"):
        validate_kong(manifest)
    elif key in crd_schemas():
        jsonschema.validate(manifest, crd_schemas()[key])
    else:
        kubernetes_validate.validate(manifest, KUBERNETES_VERSION, strict=True)


def validate_kong(manifest: Manifest) -> None:
    assert manifest["kind"] in {"KongPlugin", "KongConsumer"}, manifest["kind"]
    assert manifest["apiVersion"] == "configuration.konghq.com/v1"
    if manifest["kind"] == "KongPlugin":
        assert manifest["plugin"] in KONG_PLUGINS and isinstance(manifest["config"], dict)
    else:
        assert manifest["username"] and all(isinstance(c, str) for c in manifest["credentials"])


def containers(manifests: list[Manifest]) -> Iterator[tuple[str, Manifest]]:
    for m in manifests:
        if m["kind"] == "Deployment":
            for container in m["spec"]["template"]["spec"]["containers"]:
                yield m["metadata"]["name"], container


def of_kind(manifests: list[Manifest], kind: str) -> list[Manifest]:
    return [m for m in manifests if m["kind"] == kind]


@pytest.mark.parametrize("value_set", VALUE_SETS)
def test_every_rendered_object_is_valid_for_its_schema(value_set: str) -> None:
    manifests = render(value_set)
    for manifest in manifests:
        try:
            validate(manifest)
        except (jsonschema.ValidationError, kubernetes_validate.ValidationError) as exc:
            pytest.fail(f"{manifest['kind']} {manifest['metadata']['name']}: {exc}")
    counts = Counter(m["kind"] for m in manifests)
    _report(value_set, len(manifests), dict(sorted(counts.items())))


@pytest.mark.parametrize("value_set", VALUE_SETS)
def test_every_container_has_limits_probes_and_runs_as_non_root_read_only(value_set: str) -> None:
    manifests = render(value_set)
    assert len(of_kind(manifests, "Deployment")) >= len(SERVICES)
    for deployment in of_kind(manifests, "Deployment"):
        pod = deployment["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["automountServiceAccountToken"] is False
    for name, container in containers(manifests):
        assert {"cpu", "memory"} <= set(container["resources"]["limits"]), name
        assert {"cpu", "memory"} <= set(container["resources"]["requests"]), name
        assert container["livenessProbe"] and container["readinessProbe"] and container["startupProbe"], name
        security = container["securityContext"]
        assert security["readOnlyRootFilesystem"] is True and security["runAsNonRoot"] is True, name
        assert security["allowPrivilegeEscalation"] is False and security["capabilities"]["drop"] == ["ALL"], name
        assert not any("value" in env and "DSN" in env["name"] for env in container.get("env", [])), name


@pytest.mark.parametrize("value_set", VALUE_SETS)
def test_every_service_has_its_policies_autoscaler_and_budget(value_set: str) -> None:
    manifests = render(value_set)
    names = {f"tessera-{s}" for s in SERVICES}
    scaler = "ScaledObject" if value_set == "keda" else "HorizontalPodAutoscaler"  # KEDA makes the HPAs
    for kind in (scaler, "PodDisruptionBudget", "NetworkPolicy", "ServiceMonitor"):
        assert {m["metadata"]["name"] for m in of_kind(manifests, kind)} == names, kind
    deployments = {m["metadata"]["name"] for m in of_kind(manifests, "Deployment")}
    targets = [h["spec"]["scaleTargetRef"]["name"] for h in of_kind(manifests, "HorizontalPodAutoscaler")]
    assert (value_set == "keda" or targets) and set(targets) <= deployments
    for hpa in of_kind(manifests, "HorizontalPodAutoscaler"):
        kinds = {metric["type"] for metric in hpa["spec"]["metrics"]}
        assert "Resource" in kinds and kinds & {"Pods", "External"}, hpa["metadata"]["name"]
    istio = value_set not in ("external-no-mesh", "flagger-no-mesh", "keda")
    policies = {m["metadata"]["name"] for m in of_kind(manifests, "AuthorizationPolicy")} - {EDGE_POLICY}
    assert policies == (names if istio else set())
    if istio:
        (peer,) = of_kind(manifests, "PeerAuthentication")
        assert peer["spec"]["mtls"]["mode"] == "STRICT"


def test_each_service_lets_in_only_its_callers() -> None:
    policies = {m["metadata"]["name"]: m for m in of_kind(render("defaults"), "AuthorizationPolicy")}
    principals = policies["tessera-inventory"]["spec"]["rules"][0]["from"][0]["source"]["principals"]
    assert principals == ["cluster.local/ns/shop/sa/tessera-gateway", "cluster.local/ns/shop/sa/tessera-saga"]
    # None calls the saga: the gateway, whose platform view asks every service for its dependencies' health, may
    # call that method only.
    viewer, *others = policies["tessera-saga"]["spec"]["rules"]
    assert viewer["from"][0]["source"]["principals"] == ["cluster.local/ns/shop/sa/tessera-gateway"]
    assert viewer["to"][0]["operation"]["paths"] == ["/ops.v1.DependencyHealthService/GetDependencies"]
    assert others and all("namespaces" in rule["from"][0]["source"] for rule in others)


def test_a_canary_is_a_values_change_with_weights_and_header_routing() -> None:
    manifests = render("canary")
    deployments = {m["metadata"]["name"]: m for m in of_kind(manifests, "Deployment")}
    canary = deployments["tessera-orders-canary"]
    assert canary["spec"]["template"]["metadata"]["labels"]["version"] == "canary"
    assert canary["spec"]["template"]["spec"]["containers"][0]["image"].endswith("/orders:0.2.0")
    (service,) = (m for m in of_kind(manifests, "VirtualService") if m["metadata"]["name"] == "tessera-orders")
    by_header, weighted = service["spec"]["http"]
    assert by_header["match"][0]["headers"] == {"x-tessera-canary": {"exact": "always"}}
    assert [(r["destination"]["subset"], r["weight"]) for r in weighted["route"]] == [("stable", 80), ("canary", 20)]
    assert weighted["retries"]["attempts"] == 2 and weighted["timeout"] == "5s"
    rules = {m["metadata"]["name"]: m for m in of_kind(manifests, "DestinationRule")}
    outliers = rules["tessera-orders"]["spec"]["trafficPolicy"]["outlierDetection"]
    assert outliers["consecutive5xxErrors"] == 5 and outliers["minHealthPercent"] == 50


def test_flagger_is_one_switch_and_owns_the_traffic_split_of_its_services() -> None:
    manifests = render("flagger")
    canaries = {m["metadata"]["name"] for m in of_kind(manifests, "Canary")}
    # Every service that answers requests; the saga (a stream processor) has no traffic to weigh.
    assert canaries == {f"tessera-{s.name}" for s in registry().services if s.grpc_api or s.http}
    assert "tessera-saga" not in canaries and "tessera-orders" in canaries
    assert {m["metadata"]["name"] for m in of_kind(manifests, "VirtualService")} == {"tessera-saga"}
    assert len(of_kind(manifests, "MetricTemplate")) == 2
    (orders,) = (m for m in of_kind(manifests, "Canary") if m["metadata"]["name"] == "tessera-orders")
    assert orders["spec"]["analysis"]["threshold"] == 5  # failed checks before the automatic rollback
    assert orders["spec"]["revertOnDeletion"] is True  # Flagger switched off gives the service back as it was


def test_flagger_without_a_mesh_counts_passing_checks_and_the_services_reach_both_tracks() -> None:
    manifests = render("flagger-no-mesh")
    canaries = {m["metadata"]["name"]: m["spec"] for m in of_kind(manifests, "Canary")}
    assert set(canaries) == {"tessera-gateway", "tessera-orders"}
    gateway = canaries["tessera-gateway"]
    assert gateway["provider"] == "kubernetes"
    assert gateway["analysis"]["iterations"] == 4 and "stepWeight" not in gateway["analysis"]
    assert "match" not in gateway["analysis"] and "trafficPolicy" not in gateway["service"]
    # Flagger's Services get their own names; the chart's select the primary copy and the canary alike (Flagger
    # renames app.kubernetes.io/name on the primary, not the component).
    assert gateway["service"]["name"] == "tessera-gateway-flagger"
    services = {m["metadata"]["name"]: m["spec"]["selector"] for m in of_kind(manifests, "Service")}
    both_tracks = {"app.kubernetes.io/component": "gateway", "app.kubernetes.io/instance": "tessera"}
    assert services["tessera-gateway"] == services["tessera-gateway-headless"] == both_tracks
    assert services["tessera-catalog"] == {"app.kubernetes.io/name": "catalog", "app.kubernetes.io/instance": "tessera"}
    budgets = {
        m["metadata"]["name"]: m["spec"]["selector"]["matchLabels"] for m in of_kind(manifests, "PodDisruptionBudget")
    }
    assert budgets["tessera-orders"]["app.kubernetes.io/component"] == "orders"
    deployments = {m["metadata"]["name"]: m for m in of_kind(manifests, "Deployment")}
    pod_labels = deployments["tessera-gateway"]["spec"]["template"]["metadata"]["labels"]
    assert both_tracks.items() <= pod_labels.items()
    # The flags change at run time for every pod: Flagger neither copies them to a primary nor analyses a change.
    (flags,) = (m for m in of_kind(manifests, "ConfigMap") if m["metadata"]["name"] == "tessera-feature-flags")
    assert flags["metadata"]["annotations"]["flagger.app/config-tracking"] == "disabled"


def test_with_keda_each_service_scales_on_cpu_and_its_request_rate_or_kafka_lag() -> None:
    scalers = {m["metadata"]["name"]: m["spec"] for m in of_kind(render("keda"), "ScaledObject")}
    assert not of_kind(render("keda"), "HorizontalPodAutoscaler")
    orders = scalers["tessera-orders"]
    assert orders["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]["scaleDown"]["stabilizationWindowSeconds"]
    triggers = {t["type"]: t for t in orders["triggers"]}
    assert triggers["cpu"]["metadata"]["value"] == "70"
    rate = triggers["prometheus"]["metadata"]
    assert 'grpc_server_handled_total{namespace="shop", service="orders"' in rate["query"]
    assert rate["threshold"] == "50"
    (gateway_rate,) = (t for t in scalers["tessera-gateway"]["triggers"] if t["type"] == "prometheus")
    assert gateway_rate["metadata"]["query"].startswith('sum(rate(http_requests_total{namespace="shop"')
    (lag,) = (t for t in scalers["tessera-saga"]["triggers"] if t["type"] == "prometheus")
    assert lag["name"] == "kafka-lag" and "kafka_consumer_lag" in lag["metadata"]["query"]
    # The local cluster's KEDA is built with a chosen set of scalers: it must hold every trigger the chart uses.
    used = {trigger["type"] for spec in scalers.values() for trigger in spec["triggers"]}
    assert used <= set(KEDA_TRIGGERS), used - set(KEDA_TRIGGERS)


def test_a_fault_drill_is_set_per_service_and_off_by_default() -> None:
    def settings(value_set: str) -> dict[str, dict[str, str]]:
        return {m["metadata"]["name"]: m["data"] for m in of_kind(render(value_set), "ConfigMap") if "data" in m}

    assert settings("flagger-no-mesh")["tessera-gateway"]["TESSERA_FAULT_PERCENT"] == "30"
    assert "TESSERA_FAULT_PERCENT" not in settings("flagger-no-mesh")["tessera-orders"]
    assert not any("TESSERA_FAULT_PERCENT" in data for data in settings("defaults").values())


def test_kong_routes_the_api_with_jwt_rate_limits_and_cors_and_can_be_switched_off() -> None:
    manifests = render("defaults")
    (ingress,) = of_kind(manifests, "Ingress")
    assert ingress["spec"]["ingressClassName"] == "kong"
    plugins = ingress["metadata"]["annotations"]["konghq.com/plugins"].split(",")
    assert {p["plugin"] for p in of_kind(manifests, "KongPlugin") if p["metadata"]["name"] in plugins} == KONG_PLUGINS
    assert not [m for m in render("no-kong") if m["apiVersion"].startswith("configuration.konghq.com")]
    assert not of_kind(render("no-kong"), "Ingress")


def test_an_istio_ingress_gateway_can_be_the_edge_in_place_of_kong() -> None:
    manifests = render("istio-edge")
    assert not of_kind(manifests, "Ingress")
    (gateway,) = of_kind(manifests, "Gateway")
    assert gateway["spec"]["selector"] == {"istio": "ingressgateway"}
    (route,) = (m for m in of_kind(manifests, "VirtualService") if m["metadata"]["name"] == "tessera-edge")
    assert route["spec"]["gateways"] == ["tessera-edge"]
    (destination,) = route["spec"]["http"][0]["route"]
    assert destination["destination"] == {"host": "tessera-gateway.shop.svc.cluster.local", "port": {"number": 8080}}
    # Only the edge's identity may call the gateway's API.
    policy = next(m for m in of_kind(manifests, "AuthorizationPolicy") if m["metadata"]["name"] == "tessera-gateway")
    from_edge = next(r for r in policy["spec"]["rules"] if "requestPrincipals" in r["from"][0]["source"])
    assert from_edge["from"][0]["source"]["principals"] == ["cluster.local/ns/istio-system/sa/istio-ingressgateway"]
    # The edge itself verifies the token (401 for a bad one) and denies a request without one (403).
    edge = [m for m in manifests if m["metadata"].get("namespace") == "istio-system"]
    assert sorted(m["kind"] for m in edge) == ["AuthorizationPolicy", "RequestAuthentication"]
    for policy in edge:
        assert policy["spec"]["selector"] == {"matchLabels": {"istio": "ingressgateway"}}
    (verifies,) = of_kind(edge, "RequestAuthentication")
    assert verifies["spec"]["jwtRules"][0]["issuer"] == yaml.safe_load(AUTH_VALUES.read_text())["auth"]["issuer"]
    (denies,) = of_kind(edge, "AuthorizationPolicy")
    assert denies["metadata"]["name"] == EDGE_POLICY and denies["spec"]["action"] == "DENY"
    assert denies["spec"]["rules"] == [{"from": [{"source": {"notRequestPrincipals": ["*"]}}]}]


def test_flagger_weights_the_gateway_at_the_edge_and_the_other_services_in_the_mesh() -> None:
    manifests = render("flagger-edge")
    # Flagger's VirtualService routes the edge's requests: the chart's own edge route is left out.
    assert {m["metadata"]["name"] for m in of_kind(manifests, "VirtualService")} == {"tessera-saga"}
    canaries = {m["metadata"]["name"]: m["spec"] for m in of_kind(manifests, "Canary")}
    gateway = canaries["tessera-gateway"]
    assert gateway["provider"] == "istio" and gateway["service"]["name"] == "tessera-gateway-flagger"
    assert gateway["service"]["gateways"] == ["tessera-edge"] and gateway["service"]["hosts"] == ["*"]
    assert gateway["service"]["trafficPolicy"]["tls"] == {"mode": "ISTIO_MUTUAL"}
    assert gateway["analysis"]["stepWeight"] == 10 and gateway["analysis"]["maxWeight"] == 50
    assert "match" not in gateway["analysis"] and "iterations" not in gateway["analysis"]
    # In the mesh, callers call the chart's Service: Flagger's VirtualService takes that host.
    orders = canaries["tessera-orders"]["service"]
    assert orders["hosts"] == ["tessera-orders"] and "gateways" not in orders
    assert orders["name"] == "tessera-orders-flagger"


def test_flagger_ab_sends_the_canary_headers_requests_to_the_canary_for_its_iterations() -> None:
    (gateway,) = (m["spec"] for m in of_kind(render("flagger-edge-ab"), "Canary")
                  if m["metadata"]["name"] == "tessera-gateway")  # fmt: skip
    assert gateway["analysis"]["match"] == [{"headers": {"x-tessera-canary": {"exact": "always"}}}]
    assert gateway["analysis"]["iterations"] == 10 and "stepWeight" not in gateway["analysis"]


def test_kong_istio_and_the_gateway_check_tokens_of_the_same_issuer_with_the_same_key() -> None:
    manifests = render("defaults")
    auth = yaml.safe_load(AUTH_VALUES.read_text())["auth"]
    (credential,) = (m for m in of_kind(manifests, "Secret") if m["metadata"]["labels"].get("konghq.com/credential"))
    assert credential["stringData"]["key"] == auth["issuer"]  # Kong matches the token's iss
    assert any(credential["metadata"]["name"] in c["credentials"] for c in of_kind(manifests, "KongConsumer"))
    (mesh,) = of_kind(manifests, "RequestAuthentication")
    (rule,) = mesh["spec"]["jwtRules"]
    assert (rule["issuer"], rule["audiences"], rule["forwardOriginalToken"]) == (
        auth["issuer"],
        [auth["audience"]],
        True,
    )
    gateway = next(m for m in of_kind(manifests, "ConfigMap") if m["metadata"]["name"] == "tessera-gateway")["data"]
    assert (gateway["TESSERA_AUTH_ISSUER"], gateway["TESSERA_AUTH_AUDIENCE"]) == (auth["issuer"], auth["audience"])
    assert json.loads(gateway["TESSERA_AUTH_JWKS"]) == json.loads(rule["jwks"]) == auth["jwks"]
    # Kong's PEM and the JWKS are one key.
    pem_key = serialization.load_pem_public_key(credential["stringData"]["rsa_public_key"].encode())
    (jwk,) = auth["jwks"]["keys"]
    assert isinstance(pem_key, rsa.RSAPublicKey)
    jwks_key = RSAAlgorithm.from_jwk(jwk)
    assert isinstance(jwks_key, rsa.RSAPublicKey)
    assert jwks_key.public_numbers() == pem_key.public_numbers()
    policy = next(m for m in of_kind(manifests, "AuthorizationPolicy") if m["metadata"]["name"] == "tessera-gateway")
    from_edge = next(r for r in policy["spec"]["rules"] if "requestPrincipals" in r["from"][0]["source"])
    assert from_edge["from"][0]["source"]["requestPrincipals"] == [f"{auth['issuer']}/*"]


def _admitted(manifests: list[Manifest], service: str) -> list[str]:
    """Who may call every method of `service` (a rule without `paths`)."""
    policies = {m["metadata"]["name"]: m for m in of_kind(manifests, "AuthorizationPolicy")}
    admitted = []
    for rule in policies[f"tessera-{service}"]["spec"]["rules"]:
        if not any("paths" in to["operation"] for to in rule["to"]):
            admitted += [p.rsplit("/", 1)[1] for p in rule["from"][0]["source"].get("principals", [])]
    return sorted(admitted)


def test_callers_are_derived_from_calls_so_a_new_call_admits_its_caller(tmp_path: Path) -> None:
    assert _admitted(render("defaults"), "payments") == ["tessera-gateway", "tessera-saga"]
    # A copy of the chart whose registry adds one call, from orders to payments, and nothing else.
    chart = tmp_path / "tessera"
    shutil.copytree(CHART, chart)
    document = yaml.safe_load((chart / "services.yaml").read_text())
    document["services"]["orders"]["calls"].append("payments")
    (chart / "services.yaml").write_text(yaml.safe_dump(document))
    rendered = _helm_template("--values", str(AUTH_VALUES), chart=chart)
    assert rendered.returncode == 0, rendered.stderr
    manifests = [doc for doc in yaml.safe_load_all(rendered.stdout) if doc]
    assert _admitted(manifests, "payments") == ["tessera-gateway", "tessera-orders", "tessera-saga"]
    network = {m["metadata"]["name"]: m for m in of_kind(manifests, "NetworkPolicy")}
    ingress_from = network["tessera-payments"]["spec"]["ingress"][0]["from"]
    assert "orders" in [peer["podSelector"]["matchLabels"]["app.kubernetes.io/name"] for peer in ingress_from]
    config = {m["metadata"]["name"]: m["data"] for m in of_kind(manifests, "ConfigMap")}
    assert json.loads(config["tessera-orders"]["TESSERA_TARGETS"])["payments"] == "tessera-payments:50051"


def test_the_chart_deploys_the_registrys_services_with_their_calls_stores_and_callers() -> None:
    manifests = render("defaults")
    deployments = {m["metadata"]["name"]: m for m in of_kind(manifests, "Deployment")}
    config = {m["metadata"]["name"]: m["data"] for m in of_kind(manifests, "ConfigMap")}
    assert set(deployments) == {f"tessera-{name}" for name in SERVICES}
    for service in registry().services:
        settings = config[f"tessera-{service.name}"]
        env = [
            e["name"]
            for e in deployments[f"tessera-{service.name}"]["spec"]["template"]["spec"]["containers"][0]["env"]
        ]
        targets = json.loads(settings.get("TESSERA_TARGETS", "{}"))
        assert list(targets) == sorted(registry().reached_by(service.name)), service.name
        assert ("TESSERA_POSTGRES_DSN" in env) == service.uses("postgres"), service.name
        assert ("TESSERA_MONGO_URL" in env) == service.uses("mongo"), service.name  # from its Secret
        assert ("TESSERA_REDIS_URL" in settings) == service.uses("redis"), service.name
        assert ("TESSERA_KAFKA_BOOTSTRAP" in settings) == service.uses("kafka"), service.name
        assert ("TESSERA_HTTP_PORT" in settings) == service.http, service.name
        callers = [f"tessera-{name}" for name in registry().callers(service.name)]
        edge = ["kong-gateway"] if service.http else []  # an HTTP service is called from the edge, too
        assert _admitted(manifests, service.name) == sorted(callers + edge), service.name


def test_values_may_tune_a_service_but_not_name_one_the_registry_lacks_or_change_its_topology() -> None:
    unknown = _helm_template("--values", str(AUTH_VALUES), "--set", "services.nosuchservice.replicas=3")
    assert unknown.returncode != 0 and "services.nosuchservice: no such service in services.yaml" in unknown.stderr
    topology = _helm_template("--values", str(AUTH_VALUES), "--set", "services.orders.calls={payments}")
    assert topology.returncode != 0 and "services.orders.calls: the topology is declared in services.yaml" in (
        topology.stderr
    )


def test_the_registry_refuses_a_call_to_an_undeclared_service() -> None:
    with pytest.raises(ValueError, match="orders calls \\['shipping'\\]"):
        parse("services:\n  orders:\n    calls: [shipping]\n")


def test_without_an_issuer_the_chart_refuses_to_render() -> None:
    refused = _helm_template()
    assert refused.returncode != 0 and "auth.issuer" in refused.stderr


def test_without_a_mesh_services_balance_over_the_headless_services_dns() -> None:
    config = {m["metadata"]["name"]: m for m in of_kind(render("external-no-mesh"), "ConfigMap")}
    assert json.loads(config["tessera-orders"]["data"]["TESSERA_TARGETS"]) == {
        "catalog": "dns:///tessera-catalog-headless.shop.svc.cluster.local:50051"
    }
    assert config["tessera-catalog"]["data"]["TESSERA_REDIS_URL"] == "rediss://cache.example.internal:6380/0"
    platform = json.loads(config["tessera-gateway"]["data"]["TESSERA_TARGETS"])
    # The services the gateway calls, and the one it does not call (the saga), which its platform view asks too.
    assert set(platform) == set(SERVICES) - {"gateway"} and "saga" not in registry()["gateway"].calls


# The chart's own settings, not the registry's: each deployment chooses them (environments.py leaves them out).
_DEPLOYMENT_SETTINGS = {"TESSERA_SERVICE_VERSION", "TESSERA_ENVIRONMENT", "TESSERA_LOG_LEVEL", "TESSERA_GRPC_HOST",
                        "TESSERA_GRPC_PORT", "TESSERA_METRICS_PORT", "TESSERA_FLAGS_FILE", "TESSERA_OTLP_ENDPOINT",
                        "TESSERA_TRACE_SAMPLE_RATIO", "TESSERA_FAULT_PERCENT"}  # fmt: skip


def _merged(*files: Path) -> dict[str, Any]:
    """The values files laid over one another, as helm merges them."""
    return functools.reduce(merge_values, (yaml.safe_load(path.read_text()) for path in files), {})


def _chart_endpoints(values: dict[str, Any]) -> Endpoints:
    """Where the chart puts things, read from its values as its templates read them; a Secret's key as
    `secret <name>/<key>`."""
    defaults, stores, auth = values["serviceDefaults"], values["infrastructure"], values["auth"]
    kafka = stores["kafka"]

    def grpc_address(name: str) -> str:
        if values["istio"]["enabled"]:
            return f"tessera-{name}:{defaults['grpcPort']}"
        return f"dns:///tessera-{name}-headless.shop.svc.cluster.local:{defaults['grpcPort']}"

    keys = {"TESSERA_AUTH_JWKS": json.dumps(auth["jwks"], sort_keys=True, separators=(",", ":"))}
    return Endpoints(
        grpc_address=grpc_address,
        http_port=lambda _: defaults["httpPort"],
        postgres_dsn=lambda name: f"secret {stores['postgres']['existingSecret']}/{name}-dsn",
        redis_url=stores["redis"]["url"],
        kafka={"TESSERA_KAFKA_BOOTSTRAP": kafka["bootstrap"], "TESSERA_KAFKA_PARTITIONS": str(kafka["partitions"]),
               "TESSERA_KAFKA_REPLICATION": str(kafka["replication"]),
               "TESSERA_KAFKA_TOPIC_PREFIX": kafka["topicPrefix"]},  # fmt: skip
        mongo_url=f"secret {stores['mongo']['existingSecret']}/url",
        mongo_database=lambda name: f"{stores['mongo']['databasePrefix']}{name}",
        http={"TESSERA_HTTP_HOST": "0.0.0.0", "TESSERA_AUTH_ISSUER": auth["issuer"],
              "TESSERA_AUTH_AUDIENCE": auth["audience"], **keys, "TESSERA_RATE_LIMIT": auth["rateLimit"]},
    )  # fmt: skip


@pytest.mark.parametrize("value_set", ["defaults", "external-no-mesh"])
def test_the_chart_gives_each_service_the_environment_the_local_stack_and_compose_compute(value_set: str) -> None:
    """Golden: the chart's Go templates and environments.environment (which the local stack and compose call)
    write the same settings for every service, key for key, beside the chart's own."""
    extra = [Path(arg) for arg in VALUE_SETS[value_set] if arg.endswith(".yaml")]
    endpoints = _chart_endpoints(_merged(CHART / "values.yaml", AUTH_VALUES, *extra))
    manifests = render(value_set)
    config = {m["metadata"]["name"]: m["data"] for m in of_kind(manifests, "ConfigMap")}
    deployments = {m["metadata"]["name"]: m for m in of_kind(manifests, "Deployment")}
    for service in registry().services:
        fullname = f"tessera-{service.name}"
        env = dict(config[fullname])
        for variable in deployments[fullname]["spec"]["template"]["spec"]["containers"][0]["env"]:
            secret = variable.get("valueFrom", {}).get("secretKeyRef")
            env[variable["name"]] = f"secret {secret['name']}/{secret['key']}" if secret else variable["value"]
        from_registry = {key: value for key, value in env.items() if key not in _DEPLOYMENT_SETTINGS}
        assert from_registry == environment(registry(), service.name, endpoints), service.name


def test_dashboards_and_alert_rules_ship_with_the_chart() -> None:
    manifests = render("defaults")
    dashboards = {
        name: json.loads(content)
        for m in of_kind(manifests, "ConfigMap")
        if "grafana_dashboard" in m["metadata"]["labels"]
        for name, content in m["data"].items()
    }
    assert set(dashboards) == {"overview.json", *(f"{name}.json" for name in SERVICES)}
    for service in registry().services:  # the template assembles what the Python generator would build
        assert dashboards[f"{service.name}.json"] == service_dashboard(service), service.name
    (rule,) = of_kind(manifests, "PrometheusRule")
    assert rule["spec"]["groups"] == alert_rules()["groups"]  # the generator's rules, all of them


def _checksums(value_set: str) -> dict[str, str]:
    return {
        d["metadata"]["name"]: d["spec"]["template"]["metadata"]["annotations"]["checksum/config"]
        for d in of_kind(render(value_set), "Deployment")
    }


def test_a_settings_change_rolls_only_its_service_and_a_flag_change_rolls_none() -> None:
    before, after = _checksums("defaults"), _checksums("orders-settings-and-flags-changed")
    assert {name for name in before if before[name] != after[name]} == {"tessera-orders"}
    flags = {m["metadata"]["name"]: m for m in of_kind(render("orders-settings-and-flags-changed"), "ConfigMap")}
    assert '"defaultVariant":"off"' in flags["tessera-feature-flags"]["data"]["flags.json"]


def test_each_pod_knows_the_version_it_runs_and_one_service_can_run_its_own_tag() -> None:
    for name, container in containers(render("orders-own-tag")):
        env = {e["name"]: e.get("value") for e in container["env"]}
        tag = "1.1.0" if name == "tessera-orders" else "1.0.0"
        assert container["image"].endswith(f":{tag}") and env["TESSERA_SERVICE_VERSION"] == tag, name


def test_the_mesh_retries_only_what_never_reached_a_service() -> None:
    """Istio must not repeat a call that may have run (`reset`, `unavailable`): the kit retries idempotent
    methods itself; the mesh only refused connections and streams, which no service saw."""
    for service in of_kind(render("defaults"), "VirtualService"):
        for route in service["spec"]["http"]:
            retry_on = set(route["retries"]["retryOn"].split(","))
            assert retry_on <= {"connect-failure", "refused-stream"}, (service["metadata"]["name"], retry_on)


def test_helm_lint_passes() -> None:
    linted = subprocess.run(
        [install.helm(), "lint", str(CHART), "--strict", "--values", str(AUTH_VALUES)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert linted.returncode == 0, linted.stdout + linted.stderr


def _report(value_set: str, objects: int, kinds: dict[str, int]) -> None:
    record("helm", {"value_set": value_set, "objects": objects, "valid": True, "kinds": kinds})
