"""The platform's health as the gateway sees it: its own backends' readiness, and every service's report of its
dependencies (the registry's platformView)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import grpc
from google.protobuf.json_format import MessageToDict
from google.protobuf.message import Message
from ops.v1 import dependencies_pb2, dependencies_pb2_grpc

from tessera.kit.dependencies import DependencyChecks


@dataclass
class PlatformHealth:
    checks: DependencyChecks  # the gateway's own (kit.service context): what readiness and the report show
    platform: Mapping[str, grpc.aio.Channel]  # every service it reaches, by name (those it calls included)

    async def readiness(self) -> dict[str, str]:
        """Each backend's gRPC health: SERVING, NOT_SERVING, or UNREACHABLE (what readiness needs)."""
        report = await self.checks.report(timeout_seconds=1.0)
        return {
            d.name: "SERVING" if d.healthy else ("UNREACHABLE" if d.unreachable else "NOT_SERVING")
            for d in report.dependencies
            if d.kind == "grpc"
        }

    async def report(self) -> dict[str, Any]:
        """The whole platform: the gateway's own dependencies and every service's report of its dependencies."""

        async def ask(name: str, channel: grpc.aio.Channel) -> dict[str, Any]:
            stub: Any = dependencies_pb2_grpc.DependencyHealthServiceStub(channel)  # typed for sync channels
            try:
                reply = await stub.GetDependencies(dependencies_pb2.GetDependenciesRequest(), timeout=3.0)
            except grpc.aio.AioRpcError as exc:
                return {"reachable": False, "healthy": False, "detail": f"{exc.code().name}: {exc.details()}"}
            return {"reachable": True, **_as_dict(reply)}

        gateway = _as_dict(await self.checks.report())
        names = list(self.platform)
        reports = await asyncio.gather(*(ask(name, self.platform[name]) for name in names))
        services = {"gateway": {"reachable": True, **gateway}, **dict(zip(names, reports, strict=True))}
        return {"healthy": all(s["healthy"] for s in services.values()), "services": services}


def _as_dict(reply: Message) -> dict[str, Any]:
    return MessageToDict(reply, preserving_proto_field_name=True, always_print_fields_with_no_presence=True)
