"""Wires orders together: settings -> pool, catalog channel, outbox relay, service, gRPC server."""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack

from orders.v1 import orders_pb2, orders_pb2_grpc

from catalog.v1 import catalog_pb2
from tessera.kit.flags import OpenFeatureFlags
from tessera.kit.grpc_server import GrpcServer, GrpcService
from tessera.kit.resources import open_channel, open_postgres, start_grpc_server, start_outbox_relay
from tessera.kit.tasks import cancel_and_wait
from tessera.orders import migrations
from tessera.orders.adapters.catalog_client import CatalogPricer
from tessera.orders.adapters.postgres import PostgresUnitOfWork
from tessera.orders.adapters.upcasting import migrate_stored_events, plan_kafka_purge, purge_kafka_copies
from tessera.orders.config import ORDER_TOPIC, OrdersSettings
from tessera.orders.entrypoints.grpc_api import OrdersGrpcApi
from tessera.orders.service_layer import OrdersService


async def start_orders(settings: OrdersSettings, stack: AsyncExitStack) -> GrpcServer:
    pool = await open_postgres(settings, stack, migrations.__name__)
    topic = settings.topic(ORDER_TOPIC)
    if (await migrate_stored_events(pool)).get("event_store"):  # before the relay publishes any outbox row
        await plan_kafka_purge(pool, settings.kafka_bootstrap, topic)
    purging = asyncio.create_task(purge_kafka_copies(pool, settings.kafka_bootstrap), name="kafka-purge")
    stack.push_async_callback(cancel_and_wait, purging)
    await start_outbox_relay(settings, stack, pool, topics=[topic], client_id=settings.service_name)
    catalog = open_channel(
        settings, stack, "catalog", settings.catalog_target, catalog_pb2.DESCRIPTOR.services_by_name["CatalogService"]
    )
    service = OrdersService(
        lambda: PostgresUnitOfWork(pool, topic=topic, producer=settings.service_name),
        CatalogPricer(catalog),
        OpenFeatureFlags(),
    )
    api = OrdersGrpcApi(service)
    descriptor = orders_pb2.DESCRIPTOR.services_by_name["OrdersService"]
    return await start_grpc_server(
        settings,
        stack,
        [GrpcService(descriptor, lambda server: orders_pb2_grpc.add_OrdersServiceServicer_to_server(api, server))],
    )
