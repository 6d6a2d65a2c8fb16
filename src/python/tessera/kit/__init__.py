"""The shared platform kit: one home per cross-cutting concern, used by every service.

config      typed settings from the environment (pydantic-settings)
logs        JSON logs (structlog) with service name and request/trace ids
metrics     Prometheus metrics and the /metrics endpoint
grpc_server grpc.aio server bootstrap: health, reflection, metrics/logging interceptors, graceful shutdown
grpc_client channels with default deadlines
db          asyncpg pools and versioned SQL migrations
cache       redis.asyncio clients and a cache-aside helper
events      the common event envelope
kafka       idempotent producing and envelope consuming (aiokafka)
outbox      transactional outbox and its relay to Kafka
streams     faust app factory for stream processors
runtime     runs a service's long-lived parts until SIGTERM
"""
