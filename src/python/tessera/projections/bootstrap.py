"""The projections, put together: settings and wiring (what they are: their entry in services.yaml).

The read models live in a MongoDB-protocol document store (MongoDB, or FerretDB on PostgreSQL), not in PostgreSQL:
a summary is a document read by key or by customer, and one store keeps one code path tested.
"""

from __future__ import annotations

from collections.abc import Sequence

from tessera.kit.service import ServiceContext, ServiceSpec
from tessera.projections.config import ProjectionsSettings
from tessera.projections.entrypoints.grpc_api import ReadModelGrpcApi
from tessera.projections.entrypoints.stream import build_projection_app
from tessera.projections.projectors import ensure_indexes


async def wire(ctx: ServiceContext[ProjectionsSettings]) -> Sequence[object]:
    await ensure_indexes(ctx.documents)
    await ctx.stream(build_projection_app(ctx.settings, ctx.documents, ctx.topic_of))
    return [ReadModelGrpcApi(ctx.documents)]


SPEC = ServiceSpec(ProjectionsSettings, wire)
