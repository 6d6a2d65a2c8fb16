"""Fault injection: a service fails a share of its requests on purpose (TESSERA_FAULT_PERCENT).

A drill, never a production setting: it shows that a canary's analysis rolls a failing version back, that the
alerts fire and that callers' retries and breakers hold. Istio injects faults at the sidecar; this does it where
no mesh runs. The failure is UNAVAILABLE (gRPC) or 503 (HTTP) before the handler runs, so no state changes, and
the kit's metrics count it like any other failure. Health checks and reflection are never failed: the drill is
about the service's answers, not about the orchestrator taking the pod out.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, cast

import grpc

FAULT_DETAIL = "fault injected on purpose (TESSERA_FAULT_PERCENT)"
_EXEMPT_GRPC_SERVICES = ("/grpc.health.v1.Health/", "/grpc.reflection.")


@dataclass(frozen=True)
class FaultInjector:
    percent: float = 0.0
    chance: Callable[[], float] = field(default=random.random)  # uniform in [0, 1)

    def strikes(self) -> bool:
        """Whether this request is one to fail."""
        return self.percent > 0 and self.chance() * 100 < self.percent


class FaultInterceptor(grpc.aio.ServerInterceptor):
    """Aborts a share of unary calls with UNAVAILABLE (after the kit's observability interceptor: it counts them)."""

    def __init__(self, faults: FaultInjector) -> None:
        self._faults = faults

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[Any, Any] | None]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        handler = await continuation(handler_call_details)
        if handler is None or not handler.unary_unary or handler_call_details.method.startswith(_EXEMPT_GRPC_SERVICES):
            return handler
        inner = cast(Callable[[Any, grpc.aio.ServicerContext[Any, Any]], Awaitable[Any]], handler.unary_unary)

        async def faulty(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
            if self._faults.strikes():
                await context.abort(grpc.StatusCode.UNAVAILABLE, FAULT_DETAIL)
            return await inner(request, context)

        return grpc.unary_unary_rpc_method_handler(
            faulty, request_deserializer=handler.request_deserializer, response_serializer=handler.response_serializer
        )
