"""Client-side resilience for gRPC calls: retries where safe, load balancing, and a circuit breaker per dependency.

- Retries and load balancing are gRPC's own, set through the channel's service config: only the methods a proto
  marks `idempotency_level = IDEMPOTENT` or `NO_SIDE_EFFECTS` are retried, only on UNAVAILABLE and CANCELLED,
  with exponential backoff and full jitter, never past the call's deadline, and with retry throttling so that
  retries stop when most calls fail (they must not multiply the load on a dependency that is already down).
- Breakers come from purgatory (an async, typed circuit-breaker library). A breaker counts only the failures
  that say the dependency is unwell (unavailable, timed out, overloaded, internal errors), never the answers of a
  healthy service (not found, invalid argument ...). When open, calls fail at once with UNAVAILABLE and the
  trailing metadata `x-circuit-breaker: open`, so callers handle them like any outage.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import grpc
from google.protobuf.descriptor import ServiceDescriptor
from google.protobuf.descriptor_pb2 import MethodOptions
from purgatory import AsyncCircuitBreakerFactory
from purgatory.domain.model import OpenedState

from tessera.kit.metrics import Counter, Gauge

BREAKER_HEADER = "x-circuit-breaker"

# Codes that say the dependency itself is unwell. Anything else is an answer from a working service.
FAILURE_CODES = frozenset(
    {
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        grpc.StatusCode.INTERNAL,
        grpc.StatusCode.UNKNOWN,
    }
)

STATE_VALUES = {"closed": 0, "opened": 1, "half-opened": 2}

BREAKER_STATE = Gauge(
    "circuit_breaker_state", "Circuit breaker per dependency: 0 closed, 1 open, 2 half-open.", ["dependency"]
)
BREAKER_TRANSITIONS = Counter(
    "circuit_breaker_transitions_total", "Circuit breaker state changes, by new state.", ["dependency", "state"]
)
BREAKER_REJECTED = Counter(
    "circuit_breaker_rejected_total", "Calls failed fast because the dependency's breaker was open.", ["dependency"]
)


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 3  # gRPC caps this at 5
    initial_backoff_seconds: float = 0.05
    max_backoff_seconds: float = 0.5
    backoff_multiplier: float = 2.0


DEFAULT_RETRY = RetryPolicy()


def idempotent_methods(service: ServiceDescriptor) -> list[str]:
    """The methods of `service` that its proto marks safe to repeat."""
    safe = (MethodOptions.IDEMPOTENT, MethodOptions.NO_SIDE_EFFECTS)
    return [m.name for m in service.methods if m.GetOptions().idempotency_level in safe]


def service_config(services: Sequence[ServiceDescriptor], retry: RetryPolicy | None = DEFAULT_RETRY) -> str:
    """The gRPC service config (JSON) of a channel: round robin over all resolved addresses, and retries."""
    config: dict[str, Any] = {"loadBalancingConfig": [{"round_robin": {}}]}
    names = [{"service": s.full_name, "method": m} for s in services for m in idempotent_methods(s)]
    if retry is not None and names:
        config["methodConfig"] = [
            {
                "name": names,
                "retryPolicy": {
                    "maxAttempts": retry.max_attempts,
                    "initialBackoff": f"{retry.initial_backoff_seconds}s",
                    "maxBackoff": f"{retry.max_backoff_seconds}s",
                    "backoffMultiplier": retry.backoff_multiplier,
                    # CANCELLED too: a call that reaches grpc's server as it stops, before a handler takes it, is
                    # cancelled by the server, never run (the gateway's 502 in a rolling update). These methods are
                    # safe to repeat, and a call the client cancels itself is never retried.
                    "retryableStatusCodes": ["UNAVAILABLE", "CANCELLED"],
                },
            }
        ]
        # Each failure costs a token, each success gives back 0.1; below half the tokens, no retries at all.
        config["retryThrottling"] = {"maxTokens": 10, "tokenRatio": 0.1}
    return json.dumps(config)


@dataclass(frozen=True)
class BreakerPolicy:
    failure_threshold: int = 5  # consecutive failures that open the breaker
    reset_seconds: float = 5.0  # how long it stays open before letting calls probe the dependency again


DEFAULT_BREAKER = BreakerPolicy()


def _is_healthy_answer(exc: BaseException) -> bool:
    return isinstance(exc, grpc.aio.AioRpcError) and exc.code() not in FAILURE_CODES


class CircuitBreakers:
    """The breakers of one service (its kit.service context), one per dependency name, exported as metrics."""

    def __init__(self) -> None:
        self._factory = AsyncCircuitBreakerFactory(exclude=[(grpc.aio.AioRpcError, _is_healthy_answer)])
        self._factory.add_listener(self._on_event)
        self._states: dict[str, str] = {}

    def _on_event(self, name: str, event_type: str, event: Any) -> None:
        if event_type == "state_changed":
            self._states[name] = event.state
            BREAKER_STATE.labels(name).set(STATE_VALUES[event.state])
            BREAKER_TRANSITIONS.labels(name, event.state).inc()
        elif event_type == "circuit_breaker_created":
            self._states[name] = "closed"
            BREAKER_STATE.labels(name).set(0)

    def state(self, dependency: str) -> str:
        """closed, opened or half-opened ("closed" for a dependency not called yet)."""
        return self._states.get(dependency, "closed")

    def states(self) -> dict[str, str]:
        return dict(self._states)

    async def call(self, dependency: str, policy: BreakerPolicy, attempt: Callable[[], Any]) -> Any:
        """Runs `attempt` (an awaitable factory) through the dependency's breaker."""
        breaker = await self._factory.get_breaker(dependency, policy.failure_threshold, policy.reset_seconds)
        try:
            async with breaker:
                return await attempt()
        except OpenedState:
            BREAKER_REJECTED.labels(dependency).inc()
            raise open_breaker_error(dependency, policy) from None


def open_breaker_error(dependency: str, policy: BreakerPolicy) -> grpc.aio.AioRpcError:
    return grpc.aio.AioRpcError(
        grpc.StatusCode.UNAVAILABLE,
        grpc.aio.Metadata(),
        grpc.aio.Metadata((BREAKER_HEADER, "open")),
        details=f"{dependency} is unavailable (circuit breaker open; retried after {policy.reset_seconds:g}s)",
    )


def is_breaker_open(error: grpc.aio.AioRpcError) -> bool:
    """True if the call failed fast on an open breaker rather than reaching the dependency."""
    return any(key == BREAKER_HEADER and value == "open" for key, value in error.trailing_metadata() or ())


class CircuitBreakerInterceptor(grpc.aio.UnaryUnaryClientInterceptor):
    """Puts every unary call of a channel through its dependency's breaker."""

    def __init__(self, dependency: str, breakers: CircuitBreakers, policy: BreakerPolicy) -> None:
        self._dependency = dependency
        self._breakers = breakers
        self._policy = policy

    async def intercept_unary_unary(
        self,
        continuation: Callable[[grpc.aio.ClientCallDetails, Any], Any],
        client_call_details: grpc.aio.ClientCallDetails,
        request: Any,
    ) -> Any:
        async def attempt() -> Any:
            call = await continuation(client_call_details, request)
            await call  # raises AioRpcError on a failed call, which is what the breaker counts
            return call

        return await self._breakers.call(self._dependency, self._policy, attempt)
