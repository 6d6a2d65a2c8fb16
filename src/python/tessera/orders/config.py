"""The orders' settings (environment variables prefixed TESSERA_)."""

from __future__ import annotations

from pydantic import Field

from tessera.kit.config import ClientSettings, KafkaSettings, PostgresSettings, ServiceSettings

ORDER_TOPIC = "orders.order.v1"


class OrdersSettings(ServiceSettings, ClientSettings, PostgresSettings, KafkaSettings):
    service_name: str = "orders"
    # Its own default port, the one its callers' default targets name (the chart sets every port itself).
    grpc_port: int = Field(default=50054, ge=0, le=65535)
    catalog_target: str = "127.0.0.1:50051"  # host:port, or dns:///catalog:50051 for every replica
