"""The gateway's FastAPI app: REST under /v1, GraphQL at /graphql, health, readiness and /metrics."""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable

import grpc
from fastapi import Depends, FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from prometheus_client import Counter, Histogram, make_asgi_app

from tessera.gateway.adapters.backends import Backends, http_status_of
from tessera.gateway.entrypoints.graphql import graphql_router
from tessera.gateway.entrypoints.rest import router
from tessera.kit import resilience
from tessera.kit.faults import FAULT_DETAIL, FaultInjector
from tessera.kit.grpc_server import REQUEST_ID_HEADER
from tessera.kit.logs import bind_request_context, clear_request_context, get_logger
from tessera.kit.metrics import LATENCY_BUCKETS

log = get_logger(__name__)

HTTP_REQUESTS = Counter("http_requests_total", "HTTP requests, by route and status.", ["method", "route", "status"])
HTTP_SECONDS = Histogram(
    "http_request_duration_seconds", "HTTP request time.", ["method", "route"], buckets=LATENCY_BUCKETS
)


class _FaultInjected(Exception):
    """A request the fault drill fails (kit.faults)."""


def _fault_drill(faults: FaultInjector) -> Callable[[], Awaitable[None]]:
    async def drill() -> None:
        if faults.strikes():
            raise _FaultInjected

    return drill


def create_app(backends: Backends, *, kit_middleware: bool = True, faults: FaultInjector | None = None) -> FastAPI:
    app = FastAPI(
        title="Tessera API",
        version="1",
        description="Browse the catalog, place orders and follow them. Errors are {status, error, detail}.",
    )
    app.state.backends = backends

    async def request_context(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        """A request id on every request (the caller's or a new one), in logs, responses and metrics."""
        request_id = request.headers.get(REQUEST_ID_HEADER) or str(uuid.uuid4())
        clear_request_context()
        bind_request_context(request_id=request_id)
        started = time.perf_counter()
        response = await call_next(request)
        path = getattr(request.scope.get("route"), "path", "unmatched")
        HTTP_SECONDS.labels(request.method, path).observe(time.perf_counter() - started)
        HTTP_REQUESTS.labels(request.method, path, str(response.status_code)).inc()
        response.headers[REQUEST_ID_HEADER] = request_id
        return response

    if kit_middleware:
        app.middleware("http")(request_context)

    # The drill fails API calls only (routed, so counted under their route), never the probes or /metrics.
    drill = [Depends(_fault_drill(faults))] if faults is not None and faults.percent > 0 else []
    app.include_router(router, dependencies=drill)
    app.include_router(graphql_router(), prefix="", dependencies=drill)
    app.mount("/metrics", make_asgi_app())

    @app.exception_handler(_FaultInjected)
    async def injected(_: Request, exc: _FaultInjected) -> JSONResponse:
        return JSONResponse({"status": 503, "error": "unavailable", "detail": FAULT_DETAIL}, status_code=503)

    @app.exception_handler(grpc.aio.AioRpcError)
    async def from_grpc(_: Request, exc: grpc.aio.AioRpcError) -> JSONResponse:
        status = http_status_of(exc)
        # An open breaker fails fast; tell clients when it is worth trying again.
        headers = {"Retry-After": "5"} if resilience.is_breaker_open(exc) else None
        return JSONResponse(
            {"status": status, "error": exc.code().name.lower(), "detail": exc.details() or exc.code().name},
            status_code=status,
            headers=headers,
        )

    @app.exception_handler(Exception)
    async def unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error")
        return JSONResponse({"status": 500, "error": "internal", "detail": "internal error"}, status_code=500)

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        detail = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        return JSONResponse({"status": 422, "error": "invalid_request", "detail": detail}, status_code=422)

    @app.get("/healthz", tags=["health"])
    async def healthz() -> dict[str, str]:
        """Liveness: the process answers."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["health"])
    async def readyz() -> dict[str, object]:
        """Readiness: the gateway serves (degraded if a backend is down: it still answers, from cache or with 503).

        Not tied to the backends' health on purpose: taking every gateway out of the load balancer because the
        catalog is down would turn one failing service into a total outage.
        """
        dependencies = await backends.health()
        ready = all(state == "SERVING" for state in dependencies.values())
        return {"status": "ready" if ready else "degraded", "dependencies": dependencies}

    @app.get("/v1/platform/health", tags=["health"])
    async def platform_health() -> JSONResponse:
        """Every service's view of its own dependencies (Postgres, Redis, Kafka, other services, breakers)."""
        report = await backends.platform_health()
        return JSONResponse(report, status_code=200 if report["healthy"] else 503)

    # Outermost: the REST span is the root of the request's trace, continuing the caller's traceparent if any.
    if kit_middleware:
        FastAPIInstrumentor.instrument_app(app, excluded_urls="healthz,readyz,metrics")
    return app
