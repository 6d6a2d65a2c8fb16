"""Wires the order saga: settings -> pool, participant channels, driver, faust processor, health server."""

from __future__ import annotations

import os
import socket
import uuid
from contextlib import AsyncExitStack

from inventory.v1 import inventory_pb2
from orders.v1 import orders_pb2
from payments.v1 import payments_pb2

from tessera.kit.grpc_server import GrpcServer
from tessera.kit.kafka import ensure_topics
from tessera.kit.resources import open_channel, open_postgres, start_grpc_server, start_lag_monitor
from tessera.kit.streams import start_stream_app
from tessera.saga import migrations
from tessera.saga.adapters.participants import GrpcParticipants
from tessera.saga.adapters.postgres import PostgresSagaRepository
from tessera.saga.config import SagaSettings
from tessera.saga.entrypoints.stream import ORDER_TOPIC, SagaRunner, build_saga_app
from tessera.saga.service_layer import SagaDriver


async def start_saga(settings: SagaSettings, stack: AsyncExitStack) -> GrpcServer:
    pool = await open_postgres(settings, stack, migrations.__name__)
    channels = [
        open_channel(settings, stack, name, target, module.DESCRIPTOR.services_by_name[service])
        for name, target, module, service in (
            ("inventory", settings.inventory_target, inventory_pb2, "InventoryService"),
            ("payments", settings.payments_target, payments_pb2, "PaymentsService"),
            ("orders", settings.orders_target, orders_pb2, "OrdersService"),
        )
    ]
    repository = PostgresSagaRepository(pool)
    driver = SagaDriver(
        repository,
        GrpcParticipants(*channels),
        owner=f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}",
        lease_seconds=settings.lease_seconds,
        step_timeout_seconds=settings.step_timeout_seconds,
    )
    runner = SagaRunner(driver, settings.max_concurrent_sagas)
    stack.push_async_callback(runner.stop)

    await ensure_topics(
        settings.kafka_bootstrap,
        [settings.topic(ORDER_TOPIC)],
        partitions=settings.kafka_partitions,
        replication=settings.kafka_replication,
    )
    app = build_saga_app(settings, repository, runner, resume_every=settings.resume_every_seconds)
    await start_stream_app(app, stack)
    start_lag_monitor(settings, stack, app.conf.id)
    # No API of its own: the gRPC server carries health (and reflection) for probes and the local stack.
    return await start_grpc_server(settings, stack, [])
