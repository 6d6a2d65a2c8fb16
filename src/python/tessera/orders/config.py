"""The orders' settings (environment variables prefixed TESSERA_)."""

from __future__ import annotations

from tessera.kit.config import ClientSettings, KafkaSettings, PostgresSettings, ServiceSettings

ORDER_TOPIC = "orders.order.v1"


class OrdersSettings(ServiceSettings, ClientSettings, PostgresSettings, KafkaSettings):
    service_name: str = "orders"
