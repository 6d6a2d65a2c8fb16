"""Wires the read side: settings -> pool (views), faust projection, query API."""

from __future__ import annotations

from contextlib import AsyncExitStack

from readmodels.v1 import readmodels_pb2, readmodels_pb2_grpc

from tessera.kit.grpc_server import GrpcServer, GrpcService
from tessera.kit.kafka import ensure_topics
from tessera.kit.resources import open_postgres, start_grpc_server, start_lag_monitor
from tessera.kit.streams import start_stream_app
from tessera.projections import migrations
from tessera.projections.config import ProjectionsSettings
from tessera.projections.entrypoints.grpc_api import ReadModelGrpcApi
from tessera.projections.entrypoints.stream import build_projection_app
from tessera.projections.projectors import PROJECTORS


async def start_projections(settings: ProjectionsSettings, stack: AsyncExitStack) -> GrpcServer:
    pool = await open_postgres(settings, stack, migrations.__name__)
    await ensure_topics(
        settings.kafka_bootstrap,
        [settings.topic(name) for name in PROJECTORS],
        partitions=settings.kafka_partitions,
        replication=settings.kafka_replication,
    )
    app = build_projection_app(settings, pool)
    await start_stream_app(app, stack)
    start_lag_monitor(settings, stack, app.conf.id)
    api = ReadModelGrpcApi(pool)
    descriptor = readmodels_pb2.DESCRIPTOR.services_by_name["ReadModelService"]
    return await start_grpc_server(
        settings,
        stack,
        [
            GrpcService(
                descriptor, lambda server: readmodels_pb2_grpc.add_ReadModelServiceServicer_to_server(api, server)
            )
        ],
    )
