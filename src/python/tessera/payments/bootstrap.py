"""Wires payments together: settings -> pool, outbox relay, service, gRPC server."""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack
from datetime import timedelta

from payments.v1 import payments_pb2, payments_pb2_grpc

from tessera.kit.grpc_server import GrpcServer, GrpcService
from tessera.kit.resources import open_postgres, start_grpc_server, start_outbox_relay
from tessera.kit.tasks import cancel_and_wait
from tessera.payments import migrations
from tessera.payments.adapters.postgres import PostgresUnitOfWork
from tessera.payments.config import PAYMENT_TOPIC, PaymentsSettings
from tessera.payments.entrypoints.expiry import drop_expired_tokens
from tessera.payments.entrypoints.grpc_api import PaymentsGrpcApi
from tessera.payments.service_layer import PaymentsService


async def start_payments(settings: PaymentsSettings, stack: AsyncExitStack) -> GrpcServer:
    pool = await open_postgres(settings, stack, migrations.__name__)
    topic = settings.topic(PAYMENT_TOPIC)
    await start_outbox_relay(settings, stack, pool, topics=[topic], client_id=settings.service_name)
    service = PaymentsService(
        lambda: PostgresUnitOfWork(pool, topic=topic, producer=settings.service_name),
        method_lifetime=timedelta(seconds=settings.payment_method_ttl_seconds),
    )
    dropping = asyncio.create_task(
        drop_expired_tokens(service, settings.drop_expired_tokens_every_seconds), name="drop-expired-tokens"
    )
    stack.push_async_callback(cancel_and_wait, dropping)
    api = PaymentsGrpcApi(service)
    descriptor = payments_pb2.DESCRIPTOR.services_by_name["PaymentsService"]
    return await start_grpc_server(
        settings,
        stack,
        [GrpcService(descriptor, lambda server: payments_pb2_grpc.add_PaymentsServiceServicer_to_server(api, server))],
    )
