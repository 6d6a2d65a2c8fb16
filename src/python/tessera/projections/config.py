"""The read side's settings (environment variables prefixed TESSERA_)."""

from __future__ import annotations

from pydantic import Field

from tessera.kit.config import KafkaSettings, MongoSettings, ServiceSettings


class ProjectionsSettings(ServiceSettings, MongoSettings, KafkaSettings):
    service_name: str = "projections"
    mongo_database: str = "projections"
    # Its own default port, the one its callers' default targets name (the chart sets every port itself).
    grpc_port: int = Field(default=50056, ge=0, le=65535)
