"""The catalog's settings (environment variables prefixed TESSERA_)."""

from __future__ import annotations

from pydantic import Field

from tessera.kit.config import KafkaSettings, PostgresSettings, RedisSettings, ServiceSettings

PRODUCT_TOPIC = "catalog.product.v1"


class CatalogSettings(ServiceSettings, PostgresSettings, RedisSettings, KafkaSettings):
    service_name: str = "catalog"
    # Its own default port, the one its callers' default targets name (the chart sets every port itself).
    grpc_port: int = Field(default=50051, ge=0, le=65535)
