"""The projections, declared: settings, migrations, the topics they consume, and how the parts are put together."""

from __future__ import annotations

from collections.abc import Sequence

from tessera.kit.service import ServiceContext, ServiceSpec
from tessera.projections import migrations
from tessera.projections.config import ProjectionsSettings
from tessera.projections.entrypoints.grpc_api import ReadModelGrpcApi
from tessera.projections.entrypoints.stream import build_projection_app
from tessera.projections.projectors import PROJECTORS


async def wire(ctx: ServiceContext[ProjectionsSettings]) -> Sequence[object]:
    await ctx.stream(build_projection_app(ctx.settings, ctx.pool))
    return [ReadModelGrpcApi(ctx.pool)]


SPEC = ServiceSpec(ProjectionsSettings, wire, migrations=migrations, consumes=list(PROJECTORS))
