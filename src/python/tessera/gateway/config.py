"""The gateway's settings (environment variables prefixed TESSERA_)."""

from __future__ import annotations

from pydantic import Field

from tessera.kit.config import ServiceSettings


class GatewaySettings(ServiceSettings):
    service_name: str = "gateway"
    http_host: str = "127.0.0.1"
    http_port: int = Field(default=8080, ge=0, le=65535)
    catalog_target: str = "127.0.0.1:50051"
    orders_target: str = "127.0.0.1:50054"
    readmodels_target: str = "127.0.0.1:50056"
    call_timeout_seconds: float = Field(default=3.0, gt=0)
