"""The orders' settings (environment variables prefixed TESSERA_)."""

from __future__ import annotations

from tessera.kit.config import KafkaSettings, PostgresSettings, ServiceSettings

ORDER_TOPIC = "orders.order.v1"


class OrdersSettings(ServiceSettings, PostgresSettings, KafkaSettings):
    service_name: str = "orders"
    catalog_target: str = "127.0.0.1:50051"  # host:port, or dns:///catalog:50051 for every replica
    catalog_timeout_seconds: float = 2.0
