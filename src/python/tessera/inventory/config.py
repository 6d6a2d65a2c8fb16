"""The inventory's settings (environment variables prefixed TESSERA_)."""

from __future__ import annotations

from tessera.kit.config import KafkaSettings, PostgresSettings, ServiceSettings


class InventorySettings(ServiceSettings, PostgresSettings, KafkaSettings):
    service_name: str = "inventory"
