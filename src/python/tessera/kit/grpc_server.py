"""The grpc.aio server every service uses: health, reflection, metrics and logging interceptors, graceful stop."""

from __future__ import annotations

import functools
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, cast

import grpc
from google.protobuf.descriptor import ServiceDescriptor
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from tessera.kit import errors, grpc_errors, metrics, tracing
from tessera.kit.faults import FaultInjector, FaultInterceptor
from tessera.kit.generated import service_descriptor
from tessera.kit.logs import bind_request_context, clear_request_context, get_logger

log = get_logger(__name__)

REQUEST_ID_HEADER = "x-request-id"


@dataclass(frozen=True)
class GrpcService:
    """One gRPC service to serve: its descriptor (for health and reflection) and how to add it to a server."""

    descriptor: ServiceDescriptor
    register: Callable[[grpc.aio.Server], None]

    @classmethod
    def of(cls, servicer: object) -> GrpcService:
        """The service a servicer implements, found from the generated `<Name>Servicer` class it subclasses: the
        descriptor from that module's `_pb2` sibling, the registration from its `add_<Name>Servicer_to_server`."""
        for base in type(servicer).__mro__:
            if base.__module__.endswith("_pb2_grpc") and base.__name__.endswith("Servicer"):
                add: Callable[[object, grpc.aio.Server], None] = getattr(
                    sys.modules[base.__module__], f"add_{base.__name__}_to_server"
                )
                return cls(service_descriptor(base), functools.partial(add, servicer))
        raise TypeError(f"{type(servicer).__name__} subclasses no generated *Servicer class (a *_pb2_grpc module's)")


def _unary(
    handler: grpc.RpcMethodHandler[Any, Any],
) -> Callable[[Any, grpc.aio.ServicerContext[Any, Any]], Awaitable[Any]]:
    # The aio server calls async handlers with an aio context, whatever the sync-typed stubs say.
    return cast(Callable[[Any, grpc.aio.ServicerContext[Any, Any]], Awaitable[Any]], handler.unary_unary)


async def abort_with_status(exc: Exception, context: grpc.aio.ServicerContext[Any, Any]) -> grpc.StatusCode:
    """Answers the call with the status `exc` stands for (raises AbortError, as `context.abort` does)."""
    if isinstance(exc, errors.DomainError):
        code = grpc_errors.domain_status(exc)
        await context.abort(code, str(exc))
    if (known := grpc_errors.infrastructure_error(exc)) is not None:
        log.warning(known.log_event, error=str(exc), error_type=type(exc).__name__)
        await context.abort(known.code, known.message)
    # The details go to clients (and through the gateway to anyone): the exception's class and message stay in
    # the log, with the trace id that finds them.
    log.error("unhandled error in RPC", exc_info=exc)
    await context.abort(grpc.StatusCode.INTERNAL, "internal error")
    raise AssertionError("unreachable: context.abort raises")


class ErrorInterceptor(grpc.aio.ServerInterceptor):
    """Domain and registered infrastructure errors to statuses, where the observability interceptor is off."""

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[Any, Any] | None]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        handler = await continuation(handler_call_details)
        if handler is None or not handler.unary_unary:
            return handler
        inner = _unary(handler)

        async def mapped(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
            try:
                return await inner(request, context)
            except grpc.aio.AbortError:
                raise
            except Exception as exc:
                await abort_with_status(exc, context)

        return grpc.unary_unary_rpc_method_handler(
            mapped, request_deserializer=handler.request_deserializer, response_serializer=handler.response_serializer
        )


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
        inner = _unary(handler)

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
            except Exception as exc:
                code = grpc.StatusCode.UNKNOWN
                await abort_with_status(exc, context)
            finally:
                if code in (grpc.StatusCode.OK, grpc.StatusCode.UNKNOWN) and context.code() is not None:
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
        # The observability interceptor maps errors to statuses itself: one wrapper per call, not two.
        kit: list[grpc.aio.ServerInterceptor] = (
            [*tracing.server_interceptors(), ObservabilityInterceptor()] if observed else [ErrorInterceptor()]
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
