"""The errors every service's domain raises, and the gRPC status each one becomes.

Domains raise these (or subclasses); `grpc_server.status_on_error` turns them into statuses with the message as
details, so a client always gets INVALID_ARGUMENT / NOT_FOUND / FAILED_PRECONDITION ... with a reason.
"""

from __future__ import annotations

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
