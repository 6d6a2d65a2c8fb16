"""Payments, put together: its settings and wiring (what it is: its entry in services.yaml)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from tessera.kit.service import ServiceContext, ServiceSpec
from tessera.payments.adapters.messages import event_to_proto
from tessera.payments.adapters.postgres import PostgresPaymentsUnitOfWork
from tessera.payments.config import PaymentsSettings
from tessera.payments.entrypoints.expiry import drop_expired_tokens
from tessera.payments.entrypoints.grpc_api import PaymentsGrpcApi
from tessera.payments.service_layer import PaymentsService


async def wire(ctx: ServiceContext[PaymentsSettings]) -> Sequence[object]:
    settings, topic = ctx.settings, ctx.topic_of("payments")
    service = PaymentsService(
        lambda: PostgresPaymentsUnitOfWork(
            ctx.pool, topic=topic, service=settings.service_name, to_message=event_to_proto
        ),
        method_lifetime=timedelta(seconds=settings.payment_method_ttl_seconds),
    )
    ctx.background(drop_expired_tokens(service, settings.drop_expired_tokens_every_seconds), "drop-expired-tokens")
    return [PaymentsGrpcApi(service)]


SPEC = ServiceSpec(PaymentsSettings, wire)
