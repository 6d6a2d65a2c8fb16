"""Orders, put together: its settings, its data migration and wiring (what it is: its entry in services.yaml)."""

from __future__ import annotations

from collections.abc import Sequence

from catalog.v1 import catalog_pb2_grpc
from tessera.kit.flags import OpenFeatureFlags
from tessera.kit.service import ServiceContext, ServiceSpec
from tessera.orders.adapters.catalog_client import CatalogPricer
from tessera.orders.adapters.messages import event_to_proto
from tessera.orders.adapters.postgres import PostgresOrdersUnitOfWork
from tessera.orders.adapters.upcasting import migrate_stored_events, plan_kafka_purge, purge_kafka_copies
from tessera.orders.config import OrdersSettings
from tessera.orders.entrypoints.grpc_api import OrdersGrpcApi
from tessera.orders.service_layer import OrdersService


async def upcast_stored_events(ctx: ServiceContext[OrdersSettings]) -> None:
    """Stored events of old versions, rewritten as the current version (before the relay publishes any again);
    their copies on Kafka are then purged once every consumer has read past them."""
    if (await migrate_stored_events(ctx.pool)).get("event_store"):
        await plan_kafka_purge(ctx.pool, ctx.settings.kafka_bootstrap, ctx.topic_of("orders"))


async def wire(ctx: ServiceContext[OrdersSettings]) -> Sequence[object]:
    settings, topic = ctx.settings, ctx.topic_of("orders")
    ctx.background(purge_kafka_copies(ctx.pool, settings.kafka_bootstrap), "kafka-purge")
    catalog = ctx.channel("catalog", catalog_pb2_grpc.CatalogServiceStub)
    service = OrdersService(
        lambda: PostgresOrdersUnitOfWork(
            ctx.pool, topic=topic, service=settings.service_name, to_message=event_to_proto
        ),
        CatalogPricer(catalog),
        OpenFeatureFlags(),
    )
    return [OrdersGrpcApi(service)]


SPEC = ServiceSpec(OrdersSettings, wire, data_migrations=[upcast_stored_events])
