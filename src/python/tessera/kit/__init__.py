"""The shared platform kit: one home per cross-cutting concern, used by every service.

config       typed settings from the environment (pydantic-settings)
logs         JSON logs (structlog) with service name, request id and the current trace/span ids
metrics      Prometheus metrics and the /metrics endpoint
tracing      OpenTelemetry: tracer provider, OTLP export, gRPC interceptors, spans across Kafka
grpc_server  grpc.aio server bootstrap: health, reflection, tracing/metrics/logging interceptors, graceful shutdown
grpc_client  channels: deadlines, retries of idempotent methods, round robin, breakers, fast reconnects
resilience   retry policy from the protos' idempotency levels, circuit breakers (purgatory) and their metrics
dependencies the dependency-health report every service serves (ops.v1)
flags        feature flags: OpenFeature with flagd's file provider (hot reload)
db           asyncpg pools, versioned SQL migrations, retrying through database outages
cache        redis.asyncio clients and a cache-aside helper
events       the common event envelope
kafka        idempotent producing, envelope consuming, consumer lag (aiokafka)
outbox       transactional outbox and its relay to Kafka
event_store  append-only event streams with optimistic concurrency
uow          the unit-of-work base for Postgres
streams      faust app factory for stream processors
resources    opening a service's resources on its exit stack, the same way everywhere
runtime      runs a service's long-lived parts until SIGTERM (or until one fails)
tasks        cancelling background tasks cleanly
"""
