"""Grafana dashboards and Prometheus alert rules as code: writes them where the Helm chart ships them.

    ./pants run src/python/tessera/tools:dashboards            # (re)writes helm/tessera/files/...
    ./pants run src/python/tessera/tools:dashboards -- --check # fails if the committed files are stale

One overview dashboard, and one per service from the panels its entry in the registry (services.yaml) names:
the chart assembles those from the panel files written here, so a new service gets its dashboard by being
declared, with no generated file of its own. Every series carries a `service` label: the local stack's
Prometheus sets it per target, a ServiceMonitor sets it from the Kubernetes Service. The tests check each
expression on a real Prometheus and the rules with promtool.
"""

from __future__ import annotations

import argparse
import json
import sys
import typing
from pathlib import Path
from typing import Any

from tessera.topology import Panel, Service

# gRPC codes that are answers to the caller's request, not failures of the service.
CLIENT_CODES = "OK|NOT_FOUND|INVALID_ARGUMENT|ALREADY_EXISTS|FAILED_PRECONDITION|ABORTED|OUT_OF_RANGE"

OUT_DIR = Path("helm/tessera/files")
PANEL_KINDS: tuple[Panel, ...] = typing.get_args(Panel)
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}


def grpc_rate(selector: str) -> str:
    return f"sum by (grpc_method) (rate(grpc_server_handled_total{{{selector}}}[5m]))"


def grpc_error_ratio(selector: str, by: str = "") -> str:
    group = f" by ({by})" if by else ""
    return (
        f'sum{group} (rate(grpc_server_handled_total{{{selector},grpc_code!~"{CLIENT_CODES}"}}[5m]))'
        f" / sum{group} (rate(grpc_server_handled_total{{{selector}}}[5m]))"
    )


def grpc_p99(selector: str, by: str = "grpc_method") -> str:
    return f"histogram_quantile(0.99, sum by (le, {by}) (rate(grpc_server_handling_seconds_bucket{{{selector}}}[5m])))"


def panel(title: str, exprs: dict[str, str], unit: str = "short", *, kind: str = "timeseries") -> dict[str, Any]:
    return {
        "type": kind,
        "title": title,
        "datasource": DATASOURCE,
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "targets": [
            {"datasource": DATASOURCE, "expr": expr, "legendFormat": legend, "refId": chr(ord("A") + i)}
            for i, (legend, expr) in enumerate(exprs.items())
        ],
    }


SERVICE = "__SERVICE__"  # in the panel files, the chart puts the service's name here


def service_panels(service: str, kind: Panel) -> list[dict[str, Any]]:
    """The panels of one kind for `service`, without ids or places (the dashboard gives those)."""
    s = f'service="{service}"'
    panels = []
    if kind == "grpc":
        panels += [
            panel("gRPC requests / s", {"{{grpc_method}}": grpc_rate(s)}, "reqps"),
            panel("gRPC error ratio (server faults)", {"errors": grpc_error_ratio(s)}, "percentunit"),
            panel("gRPC p99 latency", {"{{grpc_method}}": grpc_p99(s)}, "s"),
        ]
    if kind == "http":
        panels += [
            panel(
                "HTTP requests / s",
                {"{{route}} {{status}}": f"sum by (route, status) (rate(http_requests_total{{{s}}}[5m]))"},
                "reqps",
            ),
            panel(
                "HTTP p99 latency",
                {
                    "{{route}}": "histogram_quantile(0.99, sum by (le, route) "
                    f"(rate(http_request_duration_seconds_bucket{{{s}}}[5m])))"
                },
                "s",
            ),
        ]
    if kind == "client":
        panels += [
            panel(
                "Circuit breakers (0 closed, 1 open, 2 half-open)",
                {"{{dependency}}": f"max by (dependency) (circuit_breaker_state{{{s}}})"},
            ),
            panel(
                "Calls failed fast by an open breaker / s",
                {"{{dependency}}": f"sum by (dependency) (rate(circuit_breaker_rejected_total{{{s}}}[5m]))"},
                "reqps",
            ),
        ]
    if kind == "cache":
        panels.append(
            panel(
                "Cache hit ratio",
                {
                    "{{cache}}": f'sum by (cache) (rate(cache_requests_total{{{s},result="hit"}}[5m])) / '
                    f'sum by (cache) (rate(cache_requests_total{{{s},result=~"hit|miss"}}[5m]))'
                },
                "percentunit",
            )
        )
    if kind == "outbox":
        panels += [
            panel("Outbox backlog", {"backlog": f"max(outbox_backlog{{{s}}})"}),
            panel(
                "Events published / s",
                {"{{topic}}": f"sum by (topic) (rate(outbox_published_total{{{s}}}[5m]))"},
                "reqps",
            ),
        ]
    if kind == "lag":
        panels.append(
            panel("Kafka consumer lag", {"{{group}} {{topic}}": f"sum by (group, topic) (kafka_consumer_lag{{{s}}})"})
        )
    if kind == "saga":
        panels += [
            panel(
                "Saga outcomes / s",
                {"{{outcome}}": f"sum by (outcome) (rate(saga_outcomes_total{{{s}}}[5m]))"},
                "reqps",
            ),
            panel(
                "Saga step p99",
                {
                    "{{step}}": "histogram_quantile(0.99, sum by (le, step) "
                    f"(rate(saga_step_seconds_bucket{{{s}}}[5m])))"
                },
                "s",
            ),
        ]
    return panels


def overview_panels() -> list[dict[str, Any]]:
    return [
        panel("Services up", {"{{service}}": 'sum by (service) (up{job="tessera"})'}),
        panel(
            "gRPC requests / s by service",
            {"{{service}}": "sum by (service) (rate(grpc_server_handled_total[5m]))"},
            "reqps",
        ),
        panel(
            "gRPC error ratio by service", {"{{service}}": grpc_error_ratio('service=~".+"', "service")}, "percentunit"
        ),
        panel("gRPC p99 by service", {"{{service}}": grpc_p99('service=~".+"', "service")}, "s"),
        panel(
            "Open circuit breakers",
            {"{{service}} -> {{dependency}}": "max by (service, dependency) (circuit_breaker_state) == 1"},
        ),
        panel("Outbox backlog by service", {"{{service}}": "max by (service) (outbox_backlog)"}),
        panel("Kafka consumer lag by group", {"{{group}}": "sum by (group) (kafka_consumer_lag)"}),
        panel(
            "Orders: sagas completed vs rejected / s",
            {"{{outcome}}": 'sum by (outcome) (rate(saga_outcomes_total{outcome=~"completed|rejected"}[5m]))'},
            "reqps",
        ),
    ]


def service_dashboard(service: Service) -> dict[str, Any]:
    """What the chart assembles for `service` from the panel files (tests hold the two to each other)."""
    panels = [panel for kind in service.panels for panel in service_panels(service.name, kind)]
    return dashboard(f"tessera-{service.name}", f"Tessera / {service.name}", panels)


def dashboard(uid: str, title: str, panels: list[dict[str, Any]]) -> dict[str, Any]:
    """Panels get ids and places in two columns; the chart's template does the same for a service's dashboard."""
    for index, item in enumerate(panels):
        item["id"] = index + 1
        item["gridPos"] = {"h": 8, "w": 12, "x": 12 * (index % 2), "y": 8 * (index // 2)}
    return {
        "uid": uid,
        "title": title,
        "tags": ["tessera"],
        "schemaVersion": 39,
        "version": 1,
        "editable": True,
        "time": {"from": "now-1h", "to": "now"},
        "refresh": "30s",
        "templating": {
            "list": [{"name": "datasource", "type": "datasource", "query": "prometheus", "label": "Data source"}]
        },
        "panels": panels,
    }


def alert_rules() -> dict[str, Any]:
    faults = grpc_error_ratio('service=~".+"', "service")
    p99 = grpc_p99('service=~".+"', "service")
    return {
        "groups": [
            {
                "name": "tessera.services",
                "rules": [
                    _alert("TesseraServiceDown", 'up{job="tessera"} == 0', "2m", "critical",
                           "{{ $labels.service }} is down", "Prometheus has not scraped it for 2 minutes."),
                    _alert("TesseraHighErrorRatio", f"({faults}) > 0.05", "5m", "critical",
                           "{{ $labels.service }} fails {{ $value | humanizePercentage }} of its RPCs",
                           "Server faults (UNAVAILABLE, INTERNAL, DEADLINE_EXCEEDED ...) above 5% for 5 minutes."),
                    _alert("TesseraSlowRpcs", f"({p99}) > 0.5", "10m", "warning",
                           "{{ $labels.service }} p99 latency is {{ $value | humanizeDuration }}",
                           "The 99th percentile of RPC time is above 500 ms for 10 minutes."),
                    _alert("TesseraCircuitBreakerOpen", "max by (service, dependency) (circuit_breaker_state) == 1",
                           "1m", "warning", "{{ $labels.service }} stopped calling {{ $labels.dependency }}",
                           "Its circuit breaker has been open for a minute: the dependency keeps failing."),
                ],
            },
            {
                "name": "tessera.events",
                "rules": [
                    _alert("TesseraOutboxBacklog", "max by (service) (outbox_backlog) > 500", "5m", "warning",
                           "{{ $labels.service }} has {{ $value }} events waiting for Kafka",
                           "The outbox relay is not keeping up, or Kafka is unreachable."),
                    _alert("TesseraConsumerLag", "sum by (group) (kafka_consumer_lag) > 1000", "5m", "warning",
                           "Consumer group {{ $labels.group }} lags {{ $value }} messages",
                           "A stream processor is down or too slow; scale it or look at its logs."),
                    _alert("TesseraSagaRejectionsHigh",
                           'sum(rate(saga_outcomes_total{outcome="rejected"}[10m])) / '
                           "sum(rate(saga_outcomes_total[10m])) > 0.2", "10m", "warning",
                           "{{ $value | humanizePercentage }} of orders are rejected",
                           "More than a fifth of sagas end compensated: a participant may be failing."),
                    _alert("TesseraSagaStalled", "sum by (step) (increase(saga_stalled_total[5m])) > 0", "1m",
                           "critical", "Sagas are stalled at {{ $labels.step }}",
                           "A participant refuses a step the saga can neither go past nor undo (a confirmed order's "
                           "capture, an undo); retried every few seconds. The saga's error log names the orders."),
                ],
            },
        ]
    }  # fmt: skip


def _alert(name: str, expr: str, duration: str, severity: str, summary: str, description: str) -> dict[str, Any]:
    return {
        "alert": name,
        "expr": expr,
        "for": duration,
        "labels": {"severity": severity, "team": "platform"},
        "annotations": {"summary": summary, "description": description},
    }


def rendered() -> dict[Path, str]:
    """Every generated file, relative to the repository root, with its content."""
    grafana = OUT_DIR / "grafana"
    files: dict[Path, Any] = {
        grafana / "overview.json": dashboard("tessera-overview", "Tessera / Overview", overview_panels()),
        grafana / "service" / "dashboard.json": dashboard(f"tessera-{SERVICE}", f"Tessera / {SERVICE}", []),
        **{grafana / "service" / f"{kind}.json": service_panels(SERVICE, kind) for kind in PANEL_KINDS},
        OUT_DIR / "prometheus" / "alerts.json": alert_rules(),
    }
    return {path: json.dumps(content, indent=2) + "\n" for path, content in files.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="fail if the files differ from what would be written")
    parser.add_argument("--root", type=Path, default=Path.cwd(), help="the repository root")
    args = parser.parse_args()
    stale = []
    for path, content in rendered().items():
        target = args.root / path
        if args.check:
            if not target.exists() or target.read_text() != content:
                stale.append(str(path))
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content)
        print(f"wrote {path}")
    if stale:
        sys.exit("stale (run ./pants run src/python/tessera/tools:dashboards): " + ", ".join(stale))


if __name__ == "__main__":
    main()
