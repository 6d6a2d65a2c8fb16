"""The payments' settings (environment variables prefixed TESSERA_)."""

from __future__ import annotations

from pydantic import Field

from tessera.kit.config import KafkaSettings, PostgresSettings, ServiceSettings


class PaymentsSettings(ServiceSettings, PostgresSettings, KafkaSettings):
    service_name: str = "payments"
    # How long a card token exchanged at placement is kept for its payment; unused by then, it is dropped.
    payment_method_ttl_seconds: int = Field(default=3600, gt=0)
    drop_expired_tokens_every_seconds: float = Field(default=60.0, gt=0)
