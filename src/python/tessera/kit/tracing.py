"""OpenTelemetry traces through every hop: REST -> gRPC -> outbox -> Kafka -> stream processors -> Postgres/Redis.

gRPC, FastAPI, asyncpg, redis and pymongo are traced by the OpenTelemetry instrumentations. Kafka is traced here by
hand: events leave through the transactional outbox long after the request that caused them, so the request's W3C
`traceparent` is stored in the event envelope (see `events.make_envelope`), the outbox relay publishes each event in
a PRODUCER span that continues that trace and puts its own `traceparent` in the Kafka headers, and consumers
continue from there (`consuming`). One order is one trace, however many services and topics it crosses.

Spans are exported over OTLP/gRPC when an endpoint is configured (Jaeger, Tempo, an OpenTelemetry collector);
without one they are still made, so trace ids reach logs and propagate to the next service.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import grpc
from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor
from opentelemetry.instrumentation.grpc import aio_client_interceptors, aio_server_interceptor
from opentelemetry.instrumentation.pymongo import PymongoInstrumentor
from opentelemetry.instrumentation.redis import RedisInstrumentor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased

from tessera.kit.scope import current_scope

TRACEPARENT = "traceparent"
_tracer = trace.get_tracer("tessera.kit")
_configured = False


def configure_tracing(process: TracerProvider) -> None:
    """Installs the process's tracer provider (once: a ScopedTracerProvider over `process`, the provider of what runs
    outside any service's scope) and the asyncpg, redis and pymongo instrumentations."""
    global _configured  # noqa: PLW0603 - the OpenTelemetry provider is process-wide by design
    if _configured:
        return
    _configured = True
    trace.set_tracer_provider(ScopedTracerProvider(process))
    AsyncPGInstrumentor().instrument()
    RedisInstrumentor().instrument()
    PymongoInstrumentor().instrument()  # a command listener: AsyncMongoClient reports to it as MongoClient does


def service_tracer_provider(
    service_name: str,
    *,
    version: str = "dev",
    otlp_endpoint: str | None = None,
    environment: str = "local",
    sample_ratio: float = 1.0,
) -> TracerProvider:
    """A provider whose spans name this service (the process's, or one service's scope in a process of several).

    `sample_ratio` of the traces that start here are recorded; a span with a parent follows the parent's decision
    (also across processes, through the traceparent's sampled flag), so every trace is recorded whole or not at all.
    """
    resource = Resource.create(
        {"service.name": service_name, "service.version": version, "deployment.environment": environment}
    )
    provider = TracerProvider(resource=resource, sampler=ParentBased(TraceIdRatioBased(sample_ratio)))
    if otlp_endpoint:
        # Imported only when used: the exporter pulls in its own gRPC machinery.
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        exporter = OTLPSpanExporter(endpoint=otlp_endpoint, insecure=True)
        provider.add_span_processor(BatchSpanProcessor(exporter, schedule_delay_millis=500))
    return provider


class ScopedTracerProvider(trace.TracerProvider):
    """The process's provider: its tracers start each span with the provider of the service whose code runs (its
    kit.scope), else with `process`'s. OpenTelemetry keeps one global provider, and the asyncpg and redis
    instrumentations patch their libraries once per process, so no provider of theirs could tell two services in
    one process apart; this is the one place that does."""

    def __init__(self, process: TracerProvider) -> None:
        self.process = process

    def get_tracer(
        self,
        instrumenting_module_name: str,
        instrumenting_library_version: str | None = None,
        schema_url: str | None = None,
        attributes: Any = None,
    ) -> trace.Tracer:
        return _ScopedTracer(self.process, instrumenting_module_name, instrumenting_library_version, schema_url)


class _ScopedTracer(trace.Tracer):
    def __init__(self, process: TracerProvider, name: str, version: str | None, schema_url: str | None) -> None:
        self._process = process
        self._identity = (name, version, schema_url)
        self._tracers: dict[int, trace.Tracer] = {}

    def _tracer(self) -> trace.Tracer:
        scope = current_scope()
        provider = scope.tracer_provider if scope is not None and scope.tracer_provider is not None else self._process
        tracer = self._tracers.get(id(provider))
        if tracer is None:
            tracer = self._tracers[id(provider)] = provider.get_tracer(*self._identity)
        return tracer

    def start_span(self, *args: Any, **kwargs: Any) -> trace.Span:
        return self._tracer().start_span(*args, **kwargs)

    def start_as_current_span(self, *args: Any, **kwargs: Any) -> Any:
        return self._tracer().start_as_current_span(*args, **kwargs)


async def shutdown_tracing(*providers: TracerProvider) -> None:
    """Flushes the spans still buffered (on a graceful stop): the process's and the given providers'."""
    process = trace.get_tracer_provider()
    if isinstance(process, ScopedTracerProvider):
        providers = (process.process, *providers)
    for provider in providers:
        provider.force_flush(timeout_millis=2000)


class _UnaryCallsOnly(grpc.aio.ServerInterceptor):
    """OpenTelemetry's aio server interceptor, applied to unary calls only.

    It iterates every response-streaming handler as an async generator, which grpc's own health `Watch` (a coroutine
    writing to its context) is not: Watch failed with a TypeError, and with it the client-side health checking of
    every caller (opentelemetry-python-contrib#3066, open). The platform's own APIs are unary.
    """

    def __init__(self, traced: grpc.aio.ServerInterceptor) -> None:
        self._traced = traced

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[Any, Any] | None]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        handler = await continuation(handler_call_details)
        if handler is None or not handler.unary_unary:
            return handler

        async def found(_: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler[Any, Any]:
            return handler

        return await self._traced.intercept_service(found, handler_call_details)


def server_interceptors() -> list[grpc.aio.ServerInterceptor]:
    return [_UnaryCallsOnly(aio_server_interceptor())]


def client_interceptors() -> Sequence[grpc.aio.ClientInterceptor]:
    return list(aio_client_interceptors())


def current_traceparent() -> str:
    """The W3C traceparent of the current span, or "" outside any trace."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier.get(TRACEPARENT, "")


def current_ids() -> tuple[str, str] | None:
    """(trace id, span id) in hex of the current span, if there is one."""
    span_context = trace.get_current_span().get_span_context()
    if not span_context.is_valid:
        return None
    return format(span_context.trace_id, "032x"), format(span_context.span_id, "016x")


def _context_of(traceparent: str) -> otel_context.Context:
    return propagate.extract({TRACEPARENT: traceparent} if traceparent else {})


@contextmanager
def publishing(topic: str, traceparent: str, attributes: Mapping[str, Any] | None = None) -> Iterator[str]:
    """A PRODUCER span continuing `traceparent`; yields the traceparent to put in the message's headers."""
    with _tracer.start_as_current_span(
        f"{topic} publish",
        context=_context_of(traceparent),
        kind=trace.SpanKind.PRODUCER,
        attributes={"messaging.system": "kafka", "messaging.destination.name": topic, **(attributes or {})},
    ):
        yield current_traceparent()


@contextmanager
def consuming(
    topic: str, traceparent: str, consumer: str, attributes: Mapping[str, Any] | None = None
) -> Iterator[trace.Span]:
    """A CONSUMER span continuing the producer's trace, current for the handling of one message.

    Tasks started inside it (asyncio copies the context) continue the same trace.
    """
    with _tracer.start_as_current_span(
        f"{topic} process",
        context=_context_of(traceparent),
        kind=trace.SpanKind.CONSUMER,
        attributes={
            "messaging.system": "kafka",
            "messaging.destination.name": topic,
            "messaging.consumer.group.name": consumer,
            **(attributes or {}),
        },
    ) as span:
        yield span


@contextmanager
def continued(traceparent: str, name: str) -> Iterator[trace.Span]:
    """An INTERNAL span continuing a stored trace, e.g. a saga resumed by another worker after a crash."""
    with _tracer.start_as_current_span(name, context=_context_of(traceparent)) as span:
        yield span


def header_value(headers: Sequence[tuple[str, bytes]] | Mapping[str, bytes] | None, name: str) -> str:
    """A Kafka header as text ("" if absent); faust gives a mapping, aiokafka a list of pairs."""
    if not headers:
        return ""
    items = headers.items() if isinstance(headers, Mapping) else headers
    for key, value in items:
        if key == name:
            return value.decode() if isinstance(value, bytes | bytearray) else str(value)
    return ""
