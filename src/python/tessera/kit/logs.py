"""JSON logs through structlog, one object per line, ready for Fluentd / Fluent Bit.

Every line carries the service name (in a process of several, of the service whose code logs: kit.scope), the
trace and span ids of the current OpenTelemetry span, and the ids bound per request with `bind_request_context`
(contextvars, so they follow asyncio tasks). Standard-library loggers
(grpc, aiokafka, asyncpg ...) are routed through the same processors.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import structlog

from tessera.kit import tracing
from tessera.kit.scope import current_scope


def configure_logging(service_name: str, *, version: str = "dev", level: str = "INFO", json: bool = True) -> None:
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _add_service(service_name, version),
        _add_trace_ids,
        structlog.processors.StackInfoRenderer(),
        structlog.processors.format_exc_info,
    ]
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Chatty libraries: their INFO lines are per-connection noise.
    for name in ("aiokafka", "kafka", "asyncio"):
        logging.getLogger(name).setLevel(max(logging.WARNING, root.level))


def _add_service(service_name: str, version: str) -> structlog.types.Processor:
    def processor(_: Any, __: str, event: structlog.types.EventDict) -> structlog.types.EventDict:
        scope = current_scope()  # the service whose code logs, when a process runs several
        event.setdefault("service", service_name if scope is None else scope.name)
        event.setdefault("version", version if scope is None else scope.version)
        return event

    return processor


def _add_trace_ids(_: Any, __: str, event: structlog.types.EventDict) -> structlog.types.EventDict:
    """The current span's trace and span ids, so a log line leads to its trace (and a trace to its logs)."""
    ids = tracing.current_ids()
    if ids is not None:
        event.setdefault("trace_id", ids[0])
        event.setdefault("span_id", ids[1])
    return event


def bind_request_context(**values: str) -> None:
    """Binds ids (request_id, trace_id, ...) to every log line of the current task."""
    structlog.contextvars.bind_contextvars(**values)


def clear_request_context() -> None:
    structlog.contextvars.clear_contextvars()


def get_logger(name: str | None = None) -> structlog.stdlib.BoundLogger:
    return structlog.stdlib.get_logger(name)
