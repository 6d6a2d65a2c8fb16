"""gRPC channels for calling other services.

Every channel gives each call a deadline, propagates the request id and the trace, balances round robin over all
the addresses its target resolves to (`dns:///catalog:50051` reaches every replica), retries the methods its
protos mark idempotent, and puts calls through the dependency's circuit breaker (see `resilience`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import grpc
from google.protobuf.descriptor import ServiceDescriptor
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tessera.kit import resilience, tracing
from tessera.kit.grpc_server import REQUEST_ID_HEADER

_KEEPALIVE_OPTIONS = [
    ("grpc.keepalive_time_ms", 30_000),
    ("grpc.keepalive_timeout_ms", 10_000),
    ("grpc.keepalive_permit_without_calls", 1),
    # gRPC's reconnect backoff grows to 120 s by default: a dependency back after an outage would stay unused
    # for minutes. Capped at 2 s (with gRPC's jitter), recovery follows the dependency within seconds.
    ("grpc.initial_reconnect_backoff_ms", 200),
    ("grpc.min_reconnect_backoff_ms", 200),
    ("grpc.max_reconnect_backoff_ms", 2_000),
    # A replica that goes away (a rolling update, a scale-down) makes the channel resolve its DNS name again; by
    # default no sooner than 30 s after the last time, so the replacements stayed unknown that long.
    ("grpc.dns_min_time_between_resolutions_ms", 1_000),
]


class DefaultDeadlineInterceptor(grpc.aio.UnaryUnaryClientInterceptor):
    """Gives every call that has none a deadline, so no caller can wait forever on a stuck dependency."""

    def __init__(self, timeout_seconds: float, request_id: Callable[[], str | None] | None = None) -> None:
        self._timeout = timeout_seconds
        self._request_id = request_id

    async def intercept_unary_unary(
        self,
        continuation: Callable[[grpc.aio.ClientCallDetails, Any], Any],
        client_call_details: grpc.aio.ClientCallDetails,
        request: Any,
    ) -> Any:
        metadata = grpc.aio.Metadata(*(client_call_details.metadata or ()))
        request_id = self._request_id() if self._request_id else None
        if request_id and REQUEST_ID_HEADER not in metadata:
            metadata.add(REQUEST_ID_HEADER, request_id)
        details = grpc.aio.ClientCallDetails(
            method=client_call_details.method,
            timeout=client_call_details.timeout if client_call_details.timeout is not None else self._timeout,
            metadata=metadata,
            credentials=client_call_details.credentials,
            wait_for_ready=client_call_details.wait_for_ready,
        )
        return await continuation(details, request)


def _current_request_id() -> str | None:
    import structlog  # local: keeps this module importable without the logging setup

    value = structlog.contextvars.get_contextvars().get("request_id")
    return str(value) if value else None


def create_channel(
    target: str,
    *,
    dependency: str = "",
    services: Sequence[ServiceDescriptor] = (),
    default_timeout_seconds: float = 2.0,
    retry: resilience.RetryPolicy | None = resilience.DEFAULT_RETRY,
    breaker: resilience.BreakerPolicy | None = resilience.DEFAULT_BREAKER,
    breakers: resilience.CircuitBreakers | None = None,
    instrumented: bool = True,
    outer: Sequence[grpc.aio.ClientInterceptor] = (),
) -> grpc.aio.Channel:
    """A channel to `target` (host:port, or dns:///name:port for all of a service's addresses).

    `services` are the gRPC services called over it: their idempotent methods get the retry policy.
    `dependency` names the breaker (and the metric label); without it, or with `breaker=None`, no breaker.
    `breakers`: the service's breakers, shared by its channels to one dependency (default: the channel's own).
    `instrumented=False` leaves only the deadline (no tracing, no breaker): for measuring the kit's cost.
    `outer`: the caller's own interceptors, outermost: they see each call's outcome after the kit's (e.g. put a
    status in the caller's terms).
    """
    deadline = DefaultDeadlineInterceptor(default_timeout_seconds, _current_request_id)
    if not instrumented:
        return grpc.aio.insecure_channel(target, options=_KEEPALIVE_OPTIONS, interceptors=[*outer, deadline])
    interceptors: list[grpc.aio.ClientInterceptor] = [*outer, deadline, *tracing.client_interceptors()]
    if dependency and breaker is not None:
        own = breakers if breakers is not None else resilience.CircuitBreakers()
        interceptors.append(resilience.CircuitBreakerInterceptor(dependency, own, breaker))
    options = [
        *_KEEPALIVE_OPTIONS,
        ("grpc.enable_retries", 1),
        ("grpc.service_config", resilience.service_config(services, retry)),
    ]
    return grpc.aio.insecure_channel(target, options=options, interceptors=interceptors)


async def check_health(channel: grpc.aio.Channel, service: str = "", *, timeout: float = 1.0) -> str:
    """The grpc.health.v1 status name of `service` ("" = the whole server), e.g. "SERVING"."""
    # The health stubs are typed for sync channels only; the aio channel returns awaitables.
    stub: Any = health_pb2_grpc.HealthStub(channel)
    reply = await stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=timeout)
    return str(health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status))
