"""The Compose stack for users with Docker, written from the registry of services: nothing in it is typed by hand.

    ./pants package --filter-target-type=docker_image ::     # the images, tessera/<service>:latest
    ./pants run src/python/tessera/tools:compose             # writes .tessera/compose/
    docker compose -f .tessera/compose/docker-compose.yaml up -d

deploy/compose/infrastructure.yaml holds the fixed part (data stores, Jaeger, Prometheus, Grafana, Kong) and the
hardening every service container gets. Each service in helm/tessera/services.yaml gets a container with the
settings its entry implies: its database, Redis and Kafka as it uses them, its callees' addresses; Prometheus
scrapes every one, PostgreSQL gets a database per service that uses it, and Grafana the same dashboards as the chart.
"""

from __future__ import annotations

import argparse
import copy
import json
from pathlib import Path
from typing import Any

import yaml

from tessera.environments import Endpoints, environment
from tessera.localinfra.mongo import DATABASE as FERRETDB_DATABASE
from tessera.localinfra.mongo import FILTER_INDEX_SQL
from tessera.tools.dashboards import dashboard, overview_panels, service_dashboard
from tessera.topology import Registry, Service, registry

INFRASTRUCTURE = Path("deploy/compose/infrastructure.yaml")
OUT_DIR = Path(".tessera/compose")
GRPC_PORT, METRICS_PORT, HTTP_PORT = 50051, 9100, 8080


# Where compose puts things: each service by its name on the stack's network, the stores likewise. The API's token
# issuer comes from the user's environment.
ENDPOINTS = Endpoints(
    grpc_address=lambda name: f"{name}:{GRPC_PORT}",
    http_port=lambda _: HTTP_PORT,
    postgres_dsn=lambda name: f"postgresql://postgres:tessera@postgres:5432/{name}",
    redis_url="redis://redis:6379/0",
    kafka={"TESSERA_KAFKA_BOOTSTRAP": "kafka:9092"},
    mongo_url="${TESSERA_MONGO_URL:-mongodb://mongo:27017/}",
    mongo_database=lambda name: name,
    http={
        "TESSERA_HTTP_HOST": "0.0.0.0",
        "TESSERA_AUTH_ISSUER": "${TESSERA_AUTH_ISSUER:?set the issuer of the API's tokens}",
        "TESSERA_AUTH_JWKS": "${TESSERA_AUTH_JWKS:?set the issuer's JWKS (JSON)}",
    },
)
# How a service waits for each store before it starts.
_STORE_READY = {"postgres": "service_healthy", "mongo": "service_started", "redis": "service_healthy",
                "kafka": "service_healthy"}  # fmt: skip


def service_block(service: Service, services: Registry, hardening: dict[str, Any]) -> dict[str, Any]:
    block = copy.deepcopy(hardening)
    block["environment"] |= environment(services, service.name, ENDPOINTS)
    depends: dict[str, dict[str, str]] = {store: {"condition": _STORE_READY[store]} for store in service.stores}
    depends |= {callee: {"condition": "service_started"} for callee in service.calls}
    return {"image": f"tessera/{service.name}:latest", **block, "depends_on": depends}


def rendered(services: Registry, infrastructure: str) -> dict[Path, str]:
    """Every file of the stack, relative to its directory, with its content."""
    stack = yaml.safe_load(infrastructure)
    hardening = stack.pop("x-service")
    for service in services.services:
        stack["services"][service.name] = service_block(service, services, hardening)
    edge = [s.name for s in services.services if s.http]
    stack["services"]["kong"]["depends_on"] = edge
    scrape = [{"targets": [f"{s.name}:{METRICS_PORT}"], "labels": {"service": s.name}} for s in services.services]
    prometheus = {
        "global": {"scrape_interval": "5s"},
        "rule_files": ["/etc/prometheus/alerts.json"],
        "scrape_configs": [{"job_name": "tessera", "static_configs": scrape}],
    }
    databases = "".join(f"CREATE DATABASE {s.name};\n" for s in services.services if s.uses("postgres"))
    if any(s.uses("mongo") for s in services.services):
        databases += f"CREATE DATABASE {FERRETDB_DATABASE};\n\\connect {FERRETDB_DATABASE}\n{FILTER_INDEX_SQL}"
    dashboards = {
        Path("dashboards/overview.json"): dashboard("tessera-overview", "Tessera / Overview", overview_panels()),
        **{Path(f"dashboards/{s.name}.json"): service_dashboard(s) for s in services.services},
    }
    header = "# Written by ./pants run src/python/tessera/tools:compose from helm/tessera/services.yaml; edit those.\n"
    return {
        Path("docker-compose.yaml"): header + yaml.safe_dump(stack, sort_keys=False, width=120),
        Path("prometheus.yml"): header + yaml.safe_dump(prometheus, sort_keys=False),
        Path("postgres-init.sql"): "-- One database per service that uses PostgreSQL: each owns its data.\n"
        + databases,
        **{path: json.dumps(content, indent=2) + "\n" for path, content in dashboards.items()},
    }


def main() -> None:
    argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter).parse_args()
    # The fixed part's paths are relative to OUT_DIR (../../deploy/...), so the stack is always written there.
    files = rendered(registry(), INFRASTRUCTURE.read_text())
    for path, content in files.items():
        (OUT_DIR / path).parent.mkdir(parents=True, exist_ok=True)
        (OUT_DIR / path).write_text(content)
    print(f"wrote {len(files)} files to {OUT_DIR}/; run: docker compose -f {OUT_DIR}/docker-compose.yaml up -d")


if __name__ == "__main__":
    main()
