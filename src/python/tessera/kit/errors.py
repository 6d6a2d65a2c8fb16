"""The errors every service's domain raises, and the gRPC status each one becomes.

Domains raise these (or subclasses); the kit's server interceptor turns them into statuses with the message as
details, so a client always gets INVALID_ARGUMENT / NOT_FOUND / FAILED_PRECONDITION ... with a reason, and a
servicer method is one line. Infrastructure errors (a database away, a value it cannot hold) are registered here
by the kit module that knows them; the caller gets their status with a fixed message, the log the exception.
"""

from __future__ import annotations

from dataclasses import dataclass

import grpc


class DomainError(Exception):
    pass


class InvalidRequest(DomainError):
    """One or more fields are invalid; `errors` maps each field to what is wrong with it."""

    def __init__(self, errors: dict[str, str]) -> None:
        self.errors = errors
        super().__init__("; ".join(f"{field}: {problem}" for field, problem in errors.items()))


class NotFound(DomainError):
    pass


class AlreadyExists(DomainError):
    pass


class IllegalTransition(DomainError):
    """The entity's state does not allow the operation (e.g. commit after release)."""


class SwitchedOff(DomainError):
    """A feature flag has switched the operation off for now (FAILED_PRECONDITION: not retried, not a fault)."""


class DependencyUnavailable(DomainError):
    """A service this one needs did not answer."""


class ConcurrencyConflict(DomainError):
    """Another writer changed the entity meanwhile: reload and decide again (or let the client retry)."""


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
