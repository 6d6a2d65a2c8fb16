"""Who is calling: the bearer token verified, the caller's rate limit counted; both as FastAPI dependencies.

Every API route depends on `authenticated` (REST and GraphQL alike); health, readiness, /metrics and the docs do
not. HTTPBearer also declares the security scheme in the OpenAPI document.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from tessera.gateway.adapters.ratelimit import RateLimiter
from tessera.gateway.adapters.tokens import InvalidToken, Principal, TokenVerifier

bearer = HTTPBearer(auto_error=False, description="a JWT from the platform's issuer (RS256 or ES256)")


class Unauthorized(Exception):
    """Answered 401 with WWW-Authenticate (RFC 6750)."""

    def __init__(self, detail: str, *, error: str = "invalid_token") -> None:
        super().__init__(detail)
        self.detail = detail
        self.error = error

    def challenge(self) -> str:
        if self.error == "":
            return 'Bearer realm="tessera"'
        description = self.detail.replace('"', "'")
        return f'Bearer realm="tessera", error="{self.error}", error_description="{description}"'


class Forbidden(Exception):
    """A valid token without the scope an action needs: 403."""


class RateLimited(Exception):
    def __init__(self, retry_after: int) -> None:
        super().__init__(f"too many requests; retry after {retry_after} s")
        self.retry_after = retry_after


async def authenticated(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> Principal:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthorized("a bearer token is required", error="")
    verifier: TokenVerifier = request.app.state.tokens
    try:
        principal = await verifier.verify(credentials.credentials)
    except InvalidToken as exc:
        raise Unauthorized(str(exc)) from None
    limiter: RateLimiter | None = request.app.state.rate_limiter
    if limiter is not None and (retry_after := await limiter.retry_after(principal.subject)) is not None:
        raise RateLimited(retry_after)
    return principal


Caller = Annotated[Principal, Depends(authenticated)]


def customer_of(principal: Principal) -> str:
    """The customer a token acts for; a token without the customer scope cannot act for any."""
    if principal.customer_id is None:
        raise Forbidden("this action needs a customer's token (scope 'orders')")
    return principal.customer_id


def orders_visible_to(principal: Principal) -> str:
    """The customer whose orders a call may see (the orders service hides the others'): the token's, or any ("")
    for an admin. REST and GraphQL both ask this."""
    return "" if principal.is_admin else customer_of(principal)


def require_admin(principal: Principal) -> None:
    if not principal.is_admin:
        raise Forbidden("this action needs the admin scope")
