"""The orders' settings (environment variables prefixed TESSERA_)."""

from __future__ import annotations

from tessera.kit.config import ClientSettings, KafkaSettings, PostgresSettings, ServiceSettings


class OrdersSettings(ServiceSettings, ClientSettings, PostgresSettings, KafkaSettings):
    service_name: str = "orders"
