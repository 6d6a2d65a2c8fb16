"""The gateway's FastAPI app: REST under /v1, GraphQL at /graphql, health, readiness and /metrics."""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from http import HTTPStatus
from typing import Any

import grpc
from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from prometheus_client import make_asgi_app

from tessera.gateway.adapters.backends import Backends
from tessera.gateway.adapters.ratelimit import RateLimiter
from tessera.gateway.adapters.tokens import TokenVerifier
from tessera.gateway.entrypoints.graphql import graphql_router
from tessera.gateway.entrypoints.http_status import HTTP_STATUS, http_status_of
from tessera.gateway.entrypoints.rest import router
from tessera.gateway.entrypoints.security import Forbidden, RateLimited, Unauthorized
from tessera.kit import resilience
from tessera.kit.faults import FAULT_DETAIL, FaultInjector
from tessera.kit.grpc_server import REQUEST_ID_HEADER
from tessera.kit.logs import bind_request_context, clear_request_context, get_logger
from tessera.kit.metrics import LATENCY_BUCKETS, Counter, Histogram, current_registry

log = get_logger(__name__)

HTTP_REQUESTS = Counter("http_requests_total", "HTTP requests, by route and status.", ["method", "route", "status"])
HTTP_SECONDS = Histogram(
    "http_request_duration_seconds", "HTTP request time.", ["method", "route"], buckets=LATENCY_BUCKETS
)


# ASGI's shapes (as starlette.types spells them; starlette is only FastAPI's dependency here).
Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class RequestContextMiddleware:
    """A request id on every request (the caller's or a new one), in logs, responses and metrics.

    Plain ASGI rather than `app.middleware("http")`: Starlette's BaseHTTPMiddleware runs each request in a task
    group and streams the response through a memory channel, which the profile showed as a tenth of a read's cost.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        request_id = headers.get(REQUEST_ID_HEADER.encode(), b"").decode("latin-1")[:128] or str(uuid.uuid4())
        scope.setdefault("state", {})["request_id"] = request_id  # request.state.request_id, for problem bodies
        clear_request_context()
        bind_request_context(request_id=request_id)
        started = time.perf_counter()
        status = 500  # if the app fails before it answers, the server answers 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), (REQUEST_ID_HEADER.encode(), request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            path = getattr(scope.get("route"), "path", "unmatched")  # set by the router as it matched
            method = scope["method"]
            HTTP_SECONDS.labels(method, path).observe(time.perf_counter() - started)
            HTTP_REQUESTS.labels(method, path, str(status)).inc()


class _FaultInjected(Exception):
    """A request the fault drill fails (kit.faults)."""


def _fault_drill(faults: FaultInjector) -> Callable[[], Awaitable[None]]:
    async def drill() -> None:
        if faults.strikes():
            raise _FaultInjected

    return drill


def _allowed_methods(app: FastAPI, path: str) -> str:
    """Every method of every route on the path. Starlette's 405 names only the first route's methods, so a path
    with GET and PATCH on two routes would answer a DELETE with "Allow: GET"."""
    methods: set[str] = set()
    for route in app.router.routes:
        regex = getattr(route, "path_regex", None)
        if regex is not None and regex.match(path):
            methods |= set(getattr(route, "methods", None) or ())
    return ", ".join(sorted(methods))


def problem(
    request: Request, status: int, error: str, detail: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    """The body of every error answer (views.Problem), with the request id to quote when reporting it."""
    request_id = getattr(request.state, "request_id", "")
    body = {"status": status, "error": error, "detail": detail, "request_id": request_id}
    return JSONResponse(body, status_code=status, headers=headers)


def create_app(
    backends: Backends,
    tokens: TokenVerifier,
    *,
    rate_limiter: RateLimiter | None = None,
    kit_middleware: bool = True,
    faults: FaultInjector | None = None,
) -> FastAPI:
    app = FastAPI(
        title="Tessera API",
        version="1",
        description=(
            "Browse the catalog, place orders and follow them. Every call needs a bearer token (a JWT of the"
            " platform's issuer); errors are problem bodies {status, error, detail, request_id}."
        ),
    )
    app.state.backends = backends
    app.state.tokens = tokens
    app.state.rate_limiter = rate_limiter

    if kit_middleware:
        app.add_middleware(RequestContextMiddleware)

    # The drill fails API calls only (routed, so counted under their route), never the probes or /metrics.
    drill = [Depends(_fault_drill(faults))] if faults is not None and faults.percent > 0 else []
    app.include_router(router, dependencies=drill)
    app.include_router(graphql_router(), prefix="", dependencies=drill)
    app.mount("/metrics", make_asgi_app(current_registry()))

    @app.exception_handler(_FaultInjected)
    async def injected(request: Request, exc: _FaultInjected) -> JSONResponse:
        return problem(request, 503, "unavailable", FAULT_DETAIL)

    @app.exception_handler(Unauthorized)
    async def unauthorized(request: Request, exc: Unauthorized) -> JSONResponse:
        return problem(request, 401, "unauthorized", exc.detail, {"WWW-Authenticate": exc.challenge()})

    @app.exception_handler(Forbidden)
    async def forbidden(request: Request, exc: Forbidden) -> JSONResponse:
        return problem(request, 403, "forbidden", str(exc))

    @app.exception_handler(RateLimited)
    async def rate_limited(request: Request, exc: RateLimited) -> JSONResponse:
        return problem(request, 429, "rate_limited", str(exc), {"Retry-After": str(exc.retry_after)})

    @app.exception_handler(grpc.aio.AioRpcError)
    async def from_grpc(request: Request, exc: grpc.aio.AioRpcError) -> JSONResponse:
        status = http_status_of(exc)
        # An open breaker fails fast; tell clients when it is worth trying again.
        headers = {"Retry-After": "5"} if resilience.is_breaker_open(exc) else None
        # Only the statuses meant for callers carry the service's words; any other is a failure behind the
        # gateway, whose details (an exception, a peer's address) are for the logs, not for clients.
        detail = (exc.details() or exc.code().name) if exc.code() in HTTP_STATUS else "a backing service failed"
        if exc.code() not in HTTP_STATUS:
            log.warning("backing service failed", code=exc.code().name, details=exc.details())
        return problem(request, status, exc.code().name.lower(), detail, headers)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error")
        return problem(request, 500, "internal", "internal error")

    async def http_error(request: Request, exc: Exception) -> JSONResponse:
        # Every HTTPException as a problem: the routes' own, and Starlette's and FastAPI's (no such route, method
        # not allowed, a body that cannot be parsed). Theirs are Starlette's class, so they are caught by status.
        status: int = getattr(exc, "status_code", 500)
        headers: dict[str, str] = dict(getattr(exc, "headers", None) or {})
        if status == 405:
            headers["Allow"] = _allowed_methods(app, request.url.path)
        error = HTTPStatus(status).phrase.lower().replace(" ", "_")
        return problem(request, status, error, str(getattr(exc, "detail", "")), headers)

    for status in range(400, 500):  # (a 500 handler would replace the one for unexpected errors below)
        app.add_exception_handler(status, http_error)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        detail = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        return problem(request, 422, "invalid_request", detail)

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
        dependencies = await backends.health.readiness()
        ready = all(state == "SERVING" for state in dependencies.values())
        return {"status": "ready" if ready else "degraded", "dependencies": dependencies}

    @app.get("/v1/platform/health", tags=["health"])
    async def platform_health() -> JSONResponse:
        """Every service's view of its own dependencies (Postgres, Redis, Kafka, other services, breakers)."""
        report = await backends.health.report()
        return JSONResponse(report, status_code=200 if report["healthy"] else 503)

    # Outermost: the REST span is the root of the request's trace, continuing the caller's traceparent if any.
    # Without the two spans per request that wrap the ASGI receive and send calls: they time the socket, add
    # nothing a reader of the trace needs, and tripled the spans of a read.
    if kit_middleware:
        FastAPIInstrumentor.instrument_app(
            app, excluded_urls="healthz,readyz,metrics", exclude_spans=["receive", "send"]
        )
    return app
