"""The payments' settings (environment variables prefixed TESSERA_)."""

from __future__ import annotations

from tessera.kit.config import KafkaSettings, PostgresSettings, ServiceSettings

PAYMENT_TOPIC = "payments.payment.v1"


class PaymentsSettings(ServiceSettings, PostgresSettings, KafkaSettings):
    service_name: str = "payments"
