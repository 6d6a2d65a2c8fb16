"""The errors every service's domain raises. Plain exceptions: a domain module imports no I/O library.

The kit's server turns each into a gRPC status (kit.grpc_errors) with the message as details, so a client always
gets INVALID_ARGUMENT / NOT_FOUND / FAILED_PRECONDITION ... with a reason, and a servicer method is one line.
"""

from __future__ import annotations


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
