"""A service's environment (its TESSERA_* settings) from its registry entry and where a deployment puts things.

The local stack and compose call `environment`; the chart's `tessera.settings` template writes the same settings in
Go templates (Helm cannot call Python), and a golden test (tests/helm) holds the two equal. The deployment's own
settings (log level, tracing, flags, the listen addresses) are each deployment's business and are not here.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from tessera.topology import Registry


@dataclass(frozen=True)
class Endpoints:
    """Where one deployment's parts are, as the services must be told."""

    grpc_address: Callable[[str], str]  # a service's gRPC address as its callers dial it
    http_port: Callable[[str], int]  # the port a service serving HTTP listens on
    postgres_dsn: Callable[[str], str]  # a service's own database
    redis_url: str
    kafka: Mapping[str, str]  # TESSERA_KAFKA_* settings (bootstrap, topic prefix ...) of a service using Kafka
    mongo_url: str
    mongo_database: Callable[[str], str]  # a service's own database on the document store
    http: Mapping[str, str] = field(default_factory=dict)  # more settings of a service serving HTTP (its tokens)


def environment(registry: Registry, name: str, endpoints: Endpoints) -> dict[str, str]:
    """The settings that follow from `name`'s registry entry: whom it reaches, which stores, whether it serves
    HTTP."""
    service = registry[name]
    env = {"TESSERA_SERVICE_NAME": name}
    if targets := registry.targets(name, endpoints.grpc_address):
        env["TESSERA_TARGETS"] = json.dumps(targets, sort_keys=True, separators=(",", ":"))
    if service.uses("postgres"):
        env["TESSERA_POSTGRES_DSN"] = endpoints.postgres_dsn(name)
    if service.uses("redis"):
        env["TESSERA_REDIS_URL"] = endpoints.redis_url
    if service.uses("kafka"):
        env |= endpoints.kafka
    if service.uses("mongo"):
        env |= {"TESSERA_MONGO_URL": endpoints.mongo_url, "TESSERA_MONGO_DATABASE": endpoints.mongo_database(name)}
    if service.http:
        env |= {"TESSERA_HTTP_PORT": str(endpoints.http_port(name)), **endpoints.http}
    return env
