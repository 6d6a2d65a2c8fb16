"""The shared platform kit: one home per cross-cutting concern, used by every service.

config       typed settings from the environment (pydantic-settings)
logs         JSON logs (structlog) with service name, request id and the current trace/span ids
metrics      Prometheus metrics and the /metrics endpoint
tracing      OpenTelemetry: tracer provider, OTLP export, gRPC interceptors, spans across Kafka
service      a service, declared (ServiceSpec): run(spec) opens its stores, relays its outbox, serves its
             servicers; its ServiceContext holds what it owns (checks, breakers, stores), never a global
grpc_server  grpc.aio server bootstrap: health, reflection, interceptors (tracing, metrics, logs, errors to
             statuses), graceful shutdown; GrpcService.of(servicer) finds a servicer's descriptor
errors       the domain's errors: plain exceptions, so a domain module imports no I/O library
grpc_errors  the gRPC status of each domain error, and of infrastructure errors (registered by the kit module
             owning them)
grpc_client  channels: deadlines, retries of idempotent methods, round robin, breakers, fast reconnects
resilience   retry policy from the protos' idempotency levels, circuit breakers (purgatory) and their metrics
dependencies the dependency-health report every service serves (ops.v1)
flags        feature flags: OpenFeature with flagd's file provider (hot reload)
db           asyncpg pools, versioned SQL migrations, retrying through database outages
cache        redis.asyncio clients and a cache-aside helper
documents    a MongoDB-protocol document store (MongoDB, FerretDB): PyMongo's asyncio client, metrics, outages
events       the common event envelope
kafka        idempotent producing, envelope consuming, consumer lag (aiokafka)
outbox       transactional outbox and its relay to Kafka
event_store  append-only event streams with optimistic concurrency
uow          the unit-of-work base for Postgres
streams      faust app factory for stream processors
http         serving an ASGI app (FastAPI) on the service's loop
runtime      runs a service's long-lived parts (or several services' in one process) until SIGTERM or a failure
scope        which service the running code belongs to, when several share a process: its metrics registry,
             tracer provider and log name
tasks        cancelling background tasks cleanly
"""
