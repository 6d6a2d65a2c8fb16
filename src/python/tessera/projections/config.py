"""The read side's settings (environment variables prefixed TESSERA_)."""

from __future__ import annotations

from tessera.kit.config import KafkaSettings, PostgresSettings, ServiceSettings


class ProjectionsSettings(ServiceSettings, PostgresSettings, KafkaSettings):
    service_name: str = "projections"
