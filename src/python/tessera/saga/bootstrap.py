"""The saga, put together: its settings and wiring (what it is: its entry in services.yaml)."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Sequence

from inventory.v1 import inventory_pb2_grpc
from orders.v1 import orders_pb2_grpc
from payments.v1 import payments_pb2_grpc

from tessera.kit.generated import service_descriptor
from tessera.kit.service import ServiceContext, ServiceSpec
from tessera.saga.adapters.participants import GrpcParticipants, ParticipantErrors
from tessera.saga.adapters.postgres import PostgresSagaRepository
from tessera.saga.config import SagaSettings
from tessera.saga.entrypoints.stream import SagaRunner, build_saga_app
from tessera.saga.service_layer import SagaDriver


async def wire(ctx: ServiceContext[SagaSettings]) -> Sequence[object]:
    settings = ctx.settings
    participants = {
        "inventory": inventory_pb2_grpc.InventoryServiceStub,
        "payments": payments_pb2_grpc.PaymentsServiceStub,
        "orders": orders_pb2_grpc.OrdersServiceStub,
    }
    channels = [
        ctx.channel(name, stub, interceptors=[ParticipantErrors(service_descriptor(stub))])
        for name, stub in participants.items()
    ]
    repository = PostgresSagaRepository(ctx.pool)
    driver = SagaDriver(
        repository,
        GrpcParticipants(*channels),
        owner=f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}",
        lease_seconds=settings.lease_seconds,
        step_timeout_seconds=settings.step_timeout_seconds,
    )
    runner = SagaRunner(driver, settings.max_concurrent_sagas)
    ctx.stack.push_async_callback(runner.stop)  # after the stream app stops feeding it
    orders = ctx.topic_of("orders")
    await ctx.stream(build_saga_app(settings, orders, repository, runner, resume_every=settings.resume_every_seconds))
    return []  # no API of its own: the kit's server carries health and the dependency report


SPEC = ServiceSpec(SagaSettings, wire)
