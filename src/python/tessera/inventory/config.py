"""The inventory's settings (environment variables prefixed TESSERA_)."""

from __future__ import annotations

from pydantic import Field

from tessera.kit.config import KafkaSettings, PostgresSettings, ServiceSettings

STOCK_TOPIC = "inventory.stock.v1"


class InventorySettings(ServiceSettings, PostgresSettings, KafkaSettings):
    service_name: str = "inventory"
    # Its own default port, the one its callers' default targets name (the chart sets every port itself).
    grpc_port: int = Field(default=50052, ge=0, le=65535)
