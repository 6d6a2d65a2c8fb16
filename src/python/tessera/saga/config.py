"""The saga's settings (environment variables prefixed TESSERA_)."""

from __future__ import annotations

from pydantic import Field

from tessera.kit.config import ClientSettings, KafkaSettings, PostgresSettings, ServiceSettings


class SagaSettings(ServiceSettings, ClientSettings, PostgresSettings, KafkaSettings):
    service_name: str = "saga"
    # Its own default port, the one its callers' default targets name (the chart sets every port itself).
    grpc_port: int = Field(default=50055, ge=0, le=65535)
    inventory_target: str = "127.0.0.1:50052"
    payments_target: str = "127.0.0.1:50053"
    orders_target: str = "127.0.0.1:50054"
    step_timeout_seconds: float = Field(default=10.0, gt=0)  # a step, retries included, before compensating
    lease_seconds: float = Field(default=15.0, gt=0)  # how long a dead worker's sagas wait to be resumed
    resume_every_seconds: float = Field(default=1.0, gt=0)
    max_concurrent_sagas: int = Field(default=200, ge=1)
