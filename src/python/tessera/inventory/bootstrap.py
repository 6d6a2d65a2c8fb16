"""The inventory, declared: its settings, migrations and topic, and how its parts are put together."""

from __future__ import annotations

from collections.abc import Sequence

from tessera.inventory.adapters.messages import event_to_proto
from tessera.inventory.adapters.postgres import PostgresInventoryUnitOfWork
from tessera.inventory.config import STOCK_TOPIC, InventorySettings
from tessera.inventory.entrypoints.grpc_api import InventoryGrpcApi
from tessera.inventory.service_layer import InventoryService
from tessera.kit.service import ServiceContext, ServiceSpec


async def wire(ctx: ServiceContext[InventorySettings]) -> Sequence[object]:
    topic, name = ctx.topic(STOCK_TOPIC), ctx.settings.service_name
    service = InventoryService(
        lambda: PostgresInventoryUnitOfWork(ctx.pool, topic=topic, service=name, to_message=event_to_proto)
    )
    return [InventoryGrpcApi(service)]


SPEC = ServiceSpec(InventorySettings, wire, publishes=[STOCK_TOPIC])
