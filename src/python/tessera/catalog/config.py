"""The catalog's settings (environment variables prefixed TESSERA_)."""

from __future__ import annotations

from tessera.kit.config import KafkaSettings, PostgresSettings, RedisSettings, ServiceSettings


class CatalogSettings(ServiceSettings, PostgresSettings, RedisSettings, KafkaSettings):
    service_name: str = "catalog"
