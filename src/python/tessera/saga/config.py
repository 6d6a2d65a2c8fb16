"""The saga's settings (environment variables prefixed TESSERA_)."""

from __future__ import annotations

from pydantic import Field

from tessera.kit.config import ClientSettings, KafkaSettings, PostgresSettings, ServiceSettings


class SagaSettings(ServiceSettings, ClientSettings, PostgresSettings, KafkaSettings):
    service_name: str = "saga"
    step_timeout_seconds: float = Field(default=10.0, gt=0)  # a step, retries included, before compensating
    lease_seconds: float = Field(default=15.0, gt=0)  # how long a dead worker's sagas wait to be resumed
    resume_every_seconds: float = Field(default=1.0, gt=0)
    max_concurrent_sagas: int = Field(default=200, ge=1)
