"""Wires the inventory together: settings -> pool, outbox relay, service, gRPC server."""

from __future__ import annotations

from contextlib import AsyncExitStack

from inventory.v1 import inventory_pb2, inventory_pb2_grpc

from tessera.inventory import migrations
from tessera.inventory.adapters.postgres import PostgresUnitOfWork
from tessera.inventory.config import STOCK_TOPIC, InventorySettings
from tessera.inventory.entrypoints.grpc_api import InventoryGrpcApi
from tessera.inventory.service_layer import InventoryService
from tessera.kit.grpc_server import GrpcServer, GrpcService
from tessera.kit.resources import open_postgres, start_grpc_server, start_outbox_relay


async def start_inventory(settings: InventorySettings, stack: AsyncExitStack) -> GrpcServer:
    pool = await open_postgres(settings, stack, migrations.__name__)
    topic = settings.topic(STOCK_TOPIC)
    await start_outbox_relay(settings, stack, pool, topics=[topic], client_id=settings.service_name)
    service = InventoryService(lambda: PostgresUnitOfWork(pool, topic=topic, producer=settings.service_name))
    api = InventoryGrpcApi(service)
    descriptor = inventory_pb2.DESCRIPTOR.services_by_name["InventoryService"]
    return await start_grpc_server(
        settings,
        stack,
        [
            GrpcService(
                descriptor, lambda server: inventory_pb2_grpc.add_InventoryServiceServicer_to_server(api, server)
            )
        ],
    )
