"""Dependency health: each service checks what it depends on and serves the result (ops.v1.DependencyHealthService).

The kit registers the checks as it opens a service's resources (Postgres pool, Redis client, document store, Kafka,
channels to other services), so no service writes its own. Each service has its own checks (in its kit.service
context), so two services in one process report their own dependencies. The gateway asks every service and shows the
whole platform in one endpoint. Checks run on demand, concurrently, each bounded by a timeout, so a hung dependency
reads as unhealthy instead of hanging the report.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, cast

import asyncpg
import grpc
import redis.asyncio as redis
from ops.v1 import dependencies_pb2, dependencies_pb2_grpc
from pymongo import AsyncMongoClient

from tessera.kit import resilience
from tessera.kit.grpc_client import check_health
from tessera.kit.kafka import admin_client

Check = Callable[[], Awaitable[None]]  # returns if healthy, raises (with the reason) if not

SERVICE_DESCRIPTOR = dependencies_pb2.DESCRIPTOR.services_by_name["DependencyHealthService"]


@dataclass(frozen=True)
class Dependency:
    name: str
    kind: str
    check: Check
    has_breaker: bool = False


class DependencyChecks:
    def __init__(self, service_name: str, breakers: resilience.CircuitBreakers | None = None) -> None:
        self.service_name = service_name
        self.breakers = breakers  # whose state the report shows beside each called service
        self._dependencies: dict[str, Dependency] = {}

    def add(self, name: str, kind: str, check: Check, *, has_breaker: bool = False) -> None:
        self._dependencies[name] = Dependency(name, kind, check, has_breaker)

    def add_postgres(self, pool: asyncpg.Pool, name: str = "postgres") -> None:
        async def check() -> None:
            await pool.fetchval("SELECT 1")

        self.add(name, "postgres", check)

    def add_redis(self, client: redis.Redis, name: str = "redis") -> None:
        async def check() -> None:
            await cast(Awaitable[Any], client.ping())  # redis' stubs type it for sync and async clients at once

        self.add(name, "redis", check)

    def add_mongo(self, client: AsyncMongoClient[Any], name: str = "mongo") -> None:
        async def check() -> None:
            await client.admin.command("ping")

        self.add(name, "mongo", check)

    def add_kafka(self, bootstrap: str, name: str = "kafka") -> None:
        async def check() -> None:
            async with admin_client(bootstrap, "tessera-health", request_timeout_ms=1000) as admin:
                await admin.describe_cluster()

        self.add(name, "kafka", check)

    def add_grpc(self, name: str, channel: grpc.aio.Channel, service: str) -> None:
        async def check() -> None:
            status = await check_health(channel, service)
            if status != "SERVING":
                raise RuntimeError(status)

        self.add(name, "grpc", check, has_breaker=True)

    async def report(self, timeout_seconds: float = 1.5) -> dependencies_pb2.GetDependenciesResponse:
        statuses = await asyncio.gather(*(self._run(d, timeout_seconds) for d in self._dependencies.values()))
        return dependencies_pb2.GetDependenciesResponse(
            service=self.service_name, healthy=all(s.healthy for s in statuses), dependencies=statuses
        )

    async def _run(self, dependency: Dependency, timeout_seconds: float) -> dependencies_pb2.DependencyStatus:
        started = time.perf_counter()
        detail, unreachable = "", False
        try:
            await asyncio.wait_for(dependency.check(), timeout_seconds)
        except TimeoutError:
            detail = f"no answer within {timeout_seconds:g}s"
        except grpc.aio.AioRpcError as exc:
            detail, unreachable = f"{exc.code().name}: {exc.details()}", exc.code() == grpc.StatusCode.UNAVAILABLE
        except Exception as exc:  # - whatever a check raises is the reason it is unhealthy
            detail = f"{type(exc).__name__}: {exc}"
        return dependencies_pb2.DependencyStatus(
            name=dependency.name,
            kind=dependency.kind,
            healthy=not detail,
            latency_ms=round((time.perf_counter() - started) * 1000, 2),
            detail=detail,
            unreachable=unreachable,
            breaker=self.breakers.state(dependency.name) if dependency.has_breaker and self.breakers else "",
        )


class DependencyHealthServicer(dependencies_pb2_grpc.DependencyHealthServiceServicer):
    def __init__(self, dependencies: DependencyChecks) -> None:
        self._dependencies = dependencies

    async def GetDependencies(  # - gRPC method name
        self, request: dependencies_pb2.GetDependenciesRequest, context: Any
    ) -> dependencies_pb2.GetDependenciesResponse:
        return await self._dependencies.report()
