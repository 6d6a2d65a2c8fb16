"""The read side's settings (environment variables prefixed TESSERA_)."""

from __future__ import annotations

from tessera.kit.config import KafkaSettings, MongoSettings, ServiceSettings


class ProjectionsSettings(ServiceSettings, MongoSettings, KafkaSettings):
    service_name: str = "projections"
    mongo_database: str = "projections"
