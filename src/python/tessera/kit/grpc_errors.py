"""The gRPC status of each error a call can end in: the domain's errors (kit.errors), and the infrastructure's
(a database away, a value it cannot hold), registered here by the kit module that knows them; the caller gets
their status with a fixed message, the log the exception. The kit's server interceptor reads both.
"""

from __future__ import annotations

from dataclasses import dataclass

import grpc

from tessera.kit.errors import (
    AlreadyExists,
    ConcurrencyConflict,
    DependencyUnavailable,
    DomainError,
    IllegalTransition,
    InvalidRequest,
    NotFound,
    SwitchedOff,
)

GRPC_STATUS: dict[type[Exception], grpc.StatusCode] = {
    InvalidRequest: grpc.StatusCode.INVALID_ARGUMENT,
    NotFound: grpc.StatusCode.NOT_FOUND,
    AlreadyExists: grpc.StatusCode.ALREADY_EXISTS,
    IllegalTransition: grpc.StatusCode.FAILED_PRECONDITION,
    SwitchedOff: grpc.StatusCode.FAILED_PRECONDITION,
    DependencyUnavailable: grpc.StatusCode.UNAVAILABLE,
    ConcurrencyConflict: grpc.StatusCode.ABORTED,
}


def domain_status(exc: DomainError) -> grpc.StatusCode:
    """The status of the most specific class of `exc` listed in GRPC_STATUS (INTERNAL if none is)."""
    return next((GRPC_STATUS[cls] for cls in type(exc).__mro__ if cls in GRPC_STATUS), grpc.StatusCode.INTERNAL)


@dataclass(frozen=True)
class InfrastructureError:
    types: tuple[type[Exception], ...]
    code: grpc.StatusCode
    message: str  # what the caller is told: never the exception's own text, which may name internals
    log_event: str


_infrastructure: list[InfrastructureError] = []


def register_infrastructure(
    types: tuple[type[Exception], ...], code: grpc.StatusCode, message: str, log_event: str
) -> None:
    """Declares that an RPC failing with one of `types` answers `code` (a fact about a library, registered once
    by the kit module that wraps it, so the server need not import every store's driver)."""
    _infrastructure.append(InfrastructureError(types, code, message, log_event))


def infrastructure_error(exc: Exception) -> InfrastructureError | None:
    return next((entry for entry in _infrastructure if isinstance(exc, entry.types)), None)
