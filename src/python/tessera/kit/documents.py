"""A MongoDB-protocol document store (MongoDB, or FerretDB on PostgreSQL) through PyMongo's asyncio client.

PyMongo's own `AsyncMongoClient` (PyMongo 4.13+), not Motor: Motor runs the synchronous driver in a thread pool
and is deprecated in favour of the native client, which runs on the service's event loop like asyncpg and
redis.asyncio. Spans come from OpenTelemetry's pymongo instrumentation (kit.tracing), metrics from the command
listener below, and a server that is away is an outage as PostgreSQL's is: UNAVAILABLE to a caller, waited out by a
consumer (`kit.db.retrying_through_outages(outage=is_outage)`), never a dropped event.
"""

from __future__ import annotations

from typing import Any

import grpc
from pymongo import AsyncMongoClient, monitoring
from pymongo.errors import BulkWriteError, ConnectionFailure, OperationFailure

from tessera.kit import grpc_errors
from tessera.kit.metrics import LATENCY_BUCKETS, Counter, Histogram

Document = dict[str, Any]

# The server away (restarting, unreachable, no server selectable in time): the driver reconnects by itself, so a
# retry after them finds it again once it is back.
UNREACHABLE = (ConnectionFailure,)
# Answers of a server that is up but cannot work for now. FerretDB answers InternalError (1) while its PostgreSQL
# is away (it reports any backend error so); MongoDB, the shutdown and election codes.
UNAVAILABLE_CODES = frozenset({1, 6, 7, 89, 91, 189, 10107, 11600, 11602, 13435, 13436})


def is_outage(error: BaseException) -> bool:
    """Whether an error says the document store is away for now: worth waiting out, not a bad request."""
    if isinstance(error, UNREACHABLE):
        return True
    return (
        isinstance(error, OperationFailure)
        and not isinstance(error, BulkWriteError)
        and (error.code in UNAVAILABLE_CODES)
    )


grpc_errors.register_infrastructure(
    UNREACHABLE,
    grpc.StatusCode.UNAVAILABLE,
    "a backing store is unavailable",
    "document store unavailable during RPC",
)

COMMANDS = Counter("mongodb_commands_total", "Commands sent to the document store, by outcome.", ["command", "outcome"])
COMMAND_SECONDS = Histogram(
    "mongodb_command_seconds", "Time of a document store command.", ["command"], buckets=LATENCY_BUCKETS
)


class _CommandMetrics(monitoring.CommandListener):
    """Counts and times every command. The driver calls it in the task that sent the command, so the metrics land in
    the registry of the service that sent it (kit.scope)."""

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        pass

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        self._record(event.command_name, "ok", event.duration_micros)

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        self._record(event.command_name, "error", event.duration_micros)

    @staticmethod
    def _record(command: str, outcome: str, micros: int) -> None:
        COMMANDS.labels(command, outcome).inc()
        COMMAND_SECONDS.labels(command).observe(micros / 1e6)


def create_mongo(url: str, *, app_name: str) -> AsyncMongoClient[Document]:
    """A client of the server at `url` (credentials in the URL, as a Secret gives it). Timeouts are short: an
    outage must surface as an error to wait out, not as a consumer stuck on one call."""
    return AsyncMongoClient(
        url,
        appname=app_name,
        tz_aware=True,
        serverSelectionTimeoutMS=2000,
        connectTimeoutMS=2000,
        socketTimeoutMS=10_000,
        event_listeners=[_CommandMetrics()],
    )
