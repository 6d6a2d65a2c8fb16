"""Typed settings from the environment. Every service composes the mixins it needs.

Variables are prefixed with TESSERA_, e.g. TESSERA_SERVICE_NAME, TESSERA_POSTGRES_DSN, TESSERA_GRPC_PORT.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, TypeVar

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, EnvSettingsSource, PydanticBaseSettingsSource, SettingsConfigDict
from pydantic_settings.sources.utils import parse_env_vars

_ENV_PREFIX = "TESSERA_"
SettingsT = TypeVar("SettingsT", bound="BaseSettings")
_CONFIG = SettingsConfigDict(env_prefix=_ENV_PREFIX, extra="ignore", frozen=True)


class ServiceSettings(BaseSettings):
    model_config = _CONFIG

    service_name: str
    # The release running (the image tag in Kubernetes): on every span, log line and the service_info metric,
    # so a canary's traces, logs and metrics can be told from the stable version's.
    service_version: str = "dev"
    environment: str = "local"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_json: bool = True
    grpc_host: str = "127.0.0.1"
    grpc_port: int = Field(default=50051, ge=0, le=65535)  # 0: pick a free port
    metrics_port: int | None = Field(default=None, ge=0, le=65535)  # None: no /metrics server
    shutdown_grace_seconds: float = 5.0
    # OTLP/gRPC endpoint for traces (e.g. http://jaeger-collector:4317); None: traces stay in the process.
    otlp_endpoint: str | None = None
    # The share of new traces kept (head-based; a call inside a trace follows its caller's decision, so a trace is
    # whole or absent). Unkept traces still carry their ids into logs and to the next service.
    trace_sample_ratio: float = Field(default=1.0, ge=0.0, le=1.0)
    # A flagd-format flag file (a ConfigMap in Kubernetes), re-read when it changes; None: flags keep defaults.
    flags_file: str | None = None
    flags_poll_ms: int = Field(default=1000, ge=100)
    # The kit's per-call middleware (tracing, metrics, request ids, breakers). Off only to measure its cost
    # (tools/kit_cost.py): a service without it is blind and unprotected.
    kit_middleware: bool = True
    # A drill (kit.faults): this share of requests fails with UNAVAILABLE / 503 before its handler runs. Never
    # set in production; a canary with it set must be rolled back by the analysis.
    fault_percent: float = Field(default=0.0, ge=0, le=100)


class PostgresSettings(BaseSettings):
    model_config = _CONFIG

    postgres_dsn: str
    postgres_pool_min: int = 1
    postgres_pool_max: int = 10


class RedisSettings(BaseSettings):
    model_config = _CONFIG

    redis_url: str
    cache_ttl_seconds: int = 300


class MongoSettings(BaseSettings):
    """A MongoDB-protocol document store: MongoDB, or FerretDB on PostgreSQL."""

    model_config = _CONFIG

    mongo_url: str  # credentials in the URL (a Secret in Kubernetes)
    mongo_database: str  # the service's own database on that server


class KafkaSettings(BaseSettings):
    model_config = _CONFIG

    kafka_bootstrap: str
    # Prefixed to every topic name: lets several stacks (or test runs) share one broker.
    kafka_topic_prefix: str = ""
    kafka_partitions: int = Field(default=4, ge=1)  # for topics a service creates
    kafka_replication: int = Field(default=1, ge=1)  # 3 on a real cluster

    def topic(self, name: str) -> str:
        return f"{self.kafka_topic_prefix}{name}"


class HttpSettings(BaseSettings):
    """A service that serves HTTP (the registry's `http: true`)."""

    model_config = _CONFIG

    http_host: str = "127.0.0.1"
    http_port: int = Field(default=8080, ge=0, le=65535)


class ClientSettings(BaseSettings):
    """How a service calls the services it depends on (see kit.resilience)."""

    model_config = _CONFIG

    call_timeout_seconds: float = Field(default=2.0, gt=0)  # the deadline of a call that sets none
    retry_max_attempts: int = Field(default=3, ge=1, le=5)  # for idempotent methods, on UNAVAILABLE only
    breaker_failure_threshold: int = Field(default=5, ge=1)  # consecutive failures that open a breaker
    breaker_reset_seconds: float = Field(default=5.0, gt=0)  # open this long before calls probe again
    kit_middleware: bool = True  # the same TESSERA_KIT_MIDDLEWARE as ServiceSettings: off drops breakers and tracing
    # The gRPC address of each service it reaches (JSON), written from the registry's `calls` by
    # topology.Registry.targets for every environment. No defaults: an undeclared call fails at start.
    targets: dict[str, str] = Field(default_factory=dict)


def load_settings(settings_type: type[SettingsT], environ: Mapping[str, str] | None = None) -> SettingsT:
    """Reads the settings from the environment (or from `environ`, the variables of one service among several in a
    process), or exits with a message naming each bad variable."""
    try:
        return settings_type() if environ is None else _from_mapping(settings_type, environ)()
    except ValidationError as exc:
        problems = [
            f"  {_ENV_PREFIX}{str(error['loc'][0]).upper()}: {error['msg']}" for error in exc.errors() if error["loc"]
        ]
        raise SystemExit(
            f"{settings_type.__name__}: invalid or missing environment variables:\n" + "\n".join(problems)
        ) from None


def _from_mapping(settings_type: type[SettingsT], environ: Mapping[str, str]) -> type[SettingsT]:
    """`settings_type` reading `environ` as its environment: the same names and parsing (JSON for structured
    fields) as from the process's environment, which pydantic-settings' sources read only from os.environ."""

    class MappingSource(EnvSettingsSource):
        def _load_env_vars(self) -> Mapping[str, str | None]:
            return parse_env_vars(environ, self.case_sensitive, self.env_ignore_empty, self.env_parse_none_str)

    class FromMapping(settings_type):  # type: ignore[valid-type,misc]
        @classmethod
        def settings_customise_sources(
            cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource, **_: Any
        ) -> tuple[PydanticBaseSettingsSource, ...]:
            return init_settings, MappingSource(settings_cls)

    FromMapping.__name__ = FromMapping.__qualname__ = settings_type.__name__
    return FromMapping
