"""Prometheus metrics shared by every service, and the /metrics endpoint.

Metric names follow the conventions of go-grpc-prometheus / the Prometheus client libraries, so common
dashboards and alert rules apply unchanged. Each process serves its own registry on `metrics_port`.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram, start_http_server

# Buckets from 1 ms to 10 s: service calls here are mostly single-digit milliseconds.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

GRPC_SERVER_STARTED = Counter(
    "grpc_server_started_total", "RPCs started on the server.", ["grpc_service", "grpc_method"]
)
GRPC_SERVER_HANDLED = Counter(
    "grpc_server_handled_total",
    "RPCs completed on the server, by status code.",
    ["grpc_service", "grpc_method", "grpc_code"],
)
GRPC_SERVER_HANDLING_SECONDS = Histogram(
    "grpc_server_handling_seconds",
    "Time to handle an RPC on the server.",
    ["grpc_service", "grpc_method"],
    buckets=LATENCY_BUCKETS,
)
CACHE_REQUESTS = Counter("cache_requests_total", "Cache look-ups, by result.", ["cache", "result"])
OUTBOX_PUBLISHED = Counter("outbox_published_total", "Events relayed from the outbox to Kafka.", ["topic"])
OUTBOX_BACKLOG = Gauge("outbox_backlog", "Events written to the outbox and not yet acknowledged by Kafka.")
EVENTS_CONSUMED = Counter(
    "events_consumed_total",
    "Events handled by a consumer, by outcome.",
    ["consumer", "event_type", "outcome"],
)

SERVICE_INFO = Gauge("service_info", "Always 1: the service and the version (release) it runs.", ["service", "version"])

KAFKA_CONSUMER_LAG = Gauge(
    "kafka_consumer_lag", "Messages a consumer group has not committed yet.", ["group", "topic", "partition"]
)


def serve_metrics(port: int, host: str = "0.0.0.0") -> int:
    """Starts the /metrics HTTP endpoint in a background thread; returns the bound port."""
    server, _ = start_http_server(port, addr=host)
    return int(server.server_port)
