"""The inventory, put together: its settings and wiring (what it is: its entry in services.yaml)."""

from __future__ import annotations

from collections.abc import Sequence

from tessera.inventory.adapters.messages import event_to_proto
from tessera.inventory.adapters.postgres import PostgresInventoryUnitOfWork
from tessera.inventory.config import InventorySettings
from tessera.inventory.entrypoints.grpc_api import InventoryGrpcApi
from tessera.inventory.service_layer import InventoryService
from tessera.kit.service import ServiceContext, ServiceSpec


async def wire(ctx: ServiceContext[InventorySettings]) -> Sequence[object]:
    topic, name = ctx.topic_of("inventory"), ctx.settings.service_name
    service = InventoryService(
        lambda: PostgresInventoryUnitOfWork(ctx.pool, topic=topic, service=name, to_message=event_to_proto)
    )
    return [InventoryGrpcApi(service)]


SPEC = ServiceSpec(InventorySettings, wire)
