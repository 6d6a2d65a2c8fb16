"""The grpc.aio server every service uses: health, reflection, metrics and logging interceptors, graceful stop."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, cast

import grpc
from google.protobuf.descriptor import ServiceDescriptor
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from tessera.kit import db, errors, metrics, tracing
from tessera.kit.faults import FaultInjector, FaultInterceptor
from tessera.kit.logs import bind_request_context, clear_request_context, get_logger

log = get_logger(__name__)

REQUEST_ID_HEADER = "x-request-id"


@dataclass(frozen=True)
class GrpcService:
    """One gRPC service to serve: its descriptor (for health and reflection) and how to add it to a server."""

    descriptor: ServiceDescriptor
    register: Callable[[grpc.aio.Server], None]


class ObservabilityInterceptor(grpc.aio.ServerInterceptor):
    """RED metrics per method, and a request id bound to every log line of the call.

    The trace (W3C traceparent in the metadata) is continued by OpenTelemetry's interceptor, which runs first; the
    log processor then adds its trace id to every line.
    """

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[Any, Any] | None]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        handler = await continuation(handler_call_details)
        if handler is None or not handler.unary_unary:
            return handler  # streaming handlers pass through unmeasured; the platform's APIs are unary
        service, _, method = handler_call_details.method.lstrip("/").rpartition("/")
        metadata = dict(handler_call_details.invocation_metadata or ())
        request_id = metadata.get(REQUEST_ID_HEADER)
        # The aio server calls async handlers with an aio context, whatever the sync-typed stubs say.
        inner = cast(Callable[[Any, grpc.aio.ServicerContext[Any, Any]], Awaitable[Any]], handler.unary_unary)

        async def observed(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
            clear_request_context()
            bind_request_context(request_id=str(request_id or uuid.uuid4()), rpc=method)
            metrics.GRPC_SERVER_STARTED.labels(service, method).inc()
            started = time.perf_counter()
            code = grpc.StatusCode.OK
            try:
                return await inner(request, context)
            except grpc.aio.AbortError:
                code = context.code() or grpc.StatusCode.UNKNOWN
                raise
            except db.OUTAGE_ERRORS as exc:
                # The database is away (restarting, failing over): a retryable UNAVAILABLE, not an internal error.
                code = grpc.StatusCode.UNAVAILABLE
                log.warning("database unavailable during RPC", error=str(exc))
                await context.abort(code, f"a backing store is unavailable: {type(exc).__name__}")
            except db.INPUT_ERRORS as exc:
                # A value the database cannot hold (a NUL character in text, an out-of-range number): the caller's
                # input, so INVALID_ARGUMENT; the driver's message stays in the log.
                code = grpc.StatusCode.INVALID_ARGUMENT
                log.warning("request value refused by the database", error=str(exc))
                await context.abort(code, "the request holds a value that cannot be stored (e.g. a NUL character)")
            except Exception:
                # The details go to clients (and through the gateway to anyone): the exception's class and message
                # stay in the log, with the trace id that finds them.
                code = grpc.StatusCode.INTERNAL
                log.exception("unhandled error in RPC")
                await context.abort(code, "internal error")
            finally:
                if code == grpc.StatusCode.OK and context.code() not in (None, grpc.StatusCode.OK):
                    code = context.code()
                metrics.GRPC_SERVER_HANDLING_SECONDS.labels(service, method).observe(time.perf_counter() - started)
                metrics.GRPC_SERVER_HANDLED.labels(service, method, code.name).inc()

        return grpc.unary_unary_rpc_method_handler(
            observed,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )


class GrpcServer:
    """Serves the given services plus grpc.health.v1 and reflection; `stop` drains calls within a grace period."""

    def __init__(
        self,
        services: Sequence[GrpcService],
        *,
        host: str,
        port: int,
        interceptors: Sequence[grpc.aio.ServerInterceptor] = (),
        observed: bool = True,
        faults: FaultInjector | None = None,
    ) -> None:
        self._services = services
        self._address = f"{host}:{port}"
        kit: list[grpc.aio.ServerInterceptor] = (
            [*tracing.server_interceptors(), ObservabilityInterceptor()] if observed else []
        )
        if faults is not None and faults.percent > 0:
            kit.append(FaultInterceptor(faults))  # inside the observability interceptor: counted as failures
        self._server = grpc.aio.server(interceptors=[*kit, *interceptors])
        self.health = health.aio.HealthServicer()
        self.port: int = 0

    async def start(self) -> int:
        for service in self._services:
            service.register(self._server)
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self._server)
        names = [s.descriptor.full_name for s in self._services]
        reflection.enable_server_reflection(
            [*names, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name, reflection.SERVICE_NAME],
            self._server,
        )
        self.port = self._server.add_insecure_port(self._address)
        if self.port == 0:
            raise RuntimeError(f"could not bind gRPC server to {self._address}")
        await self._server.start()
        for name in ["", *names]:  # "" is the whole server's status
            await self.health.set(name, health_pb2.HealthCheckResponse.SERVING)
        log.info("grpc server started", address=self._address, port=self.port, services=names)
        return self.port

    async def stop(self, grace: float = 5.0) -> None:
        """NOT_SERVING first (load balancers stop sending), then let in-flight calls finish within `grace`."""
        await self.health.enter_graceful_shutdown()
        await self._server.stop(grace)
        log.info("grpc server stopped")

    async def wait_for_termination(self) -> None:
        await self._server.wait_for_termination()


@asynccontextmanager
async def status_on_error(
    context: grpc.aio.ServicerContext[Any, Any],
    statuses: Mapping[type[Exception], grpc.StatusCode] = errors.GRPC_STATUS,
) -> AsyncIterator[None]:
    """Turns the domain's exceptions into gRPC statuses with the exception's message as details.

    The most specific class listed wins. Usage in a servicer: `async with status_on_error(context): ...`
    """
    try:
        yield
    except tuple(statuses) as exc:
        code = next(statuses[cls] for cls in type(exc).__mro__ if cls in statuses)
        await context.abort(code, str(exc))
