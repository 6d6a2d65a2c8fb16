"""Bearer tokens: JWTs verified by PyJWT against the issuer's JWKS (fetched from a URL, or given inline).

The gateway trusts nothing but a verified token: not a header an edge proxy might add (Kong's X-Consumer-*),
since a client could send the same header past it. A client sends the same token with each request until it
expires, so a verified token is remembered until its `exp`: the signature is checked once per token, not once per
request. The cache is keyed by the whole token (its signed bytes), so only the very token verified hits it; it
forgets everything when the issuer's keys change.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx
import jwt
from cachetools import TLRUCache

from tessera.kit.logs import get_logger

log = get_logger(__name__)

ALGORITHMS = ["RS256", "ES256"]
CUSTOMER_SCOPE = "orders"
ADMIN_SCOPE = "admin"
# An unknown key id makes the verifier fetch the JWKS again (the issuer rotated its keys), at most this often,
# so tokens with made-up key ids cannot turn the gateway into a client hammering the issuer.
REFETCH_EVERY_SECONDS = 30.0
VERIFIED_TOKENS_KEPT = 10_000  # distinct tokens remembered (about 1 KiB each); the least recently used go first


class InvalidToken(Exception):
    """Missing, malformed, expired, or not signed by the issuer's keys; the message says which."""


@dataclass(frozen=True)
class Principal:
    subject: str
    scopes: frozenset[str]

    @property
    def is_admin(self) -> bool:
        return ADMIN_SCOPE in self.scopes

    @property
    def customer_id(self) -> str | None:
        """The customer this token acts for, if it may act for one."""
        return self.subject if CUSTOMER_SCOPE in self.scopes else None

    def may_read(self, customer_id: str) -> bool:
        return self.is_admin or self.customer_id == customer_id


def _until_expiry(token: str, verified: tuple[Principal, float], now: float) -> float:
    return verified[1]


class TokenVerifier:
    def __init__(
        self,
        issuer: str,
        audience: str,
        *,
        jwks_url: str = "",
        jwks: str = "",
        clock: Callable[[], float] = time.time,  # the wall clock that `exp` is on
        refetch_every: float = REFETCH_EVERY_SECONDS,
    ) -> None:
        if not (jwks_url or jwks):
            raise ValueError("set TESSERA_AUTH_JWKS_URL or TESSERA_AUTH_JWKS (the issuer's public keys)")
        self._issuer = issuer
        self._audience = audience
        self._jwks_url = jwks_url
        self._keys: dict[str, jwt.PyJWK] = self._parse(jwks) if jwks else {}
        self._jwks = jwks
        self._fetched_at = float("-inf")
        self._refetch_every = refetch_every
        self._lock = asyncio.Lock()
        # Each verified token with its principal, until its exp (without PyJWT's leeway: a token in its last
        # 30 s of leeway is verified again each time, and refused after).
        self._verified: TLRUCache[str, tuple[Principal, float]] = TLRUCache(
            maxsize=VERIFIED_TOKENS_KEPT, ttu=_until_expiry, timer=clock
        )

    @staticmethod
    def _parse(jwks: str) -> dict[str, jwt.PyJWK]:
        keys = jwt.PyJWKSet.from_json(jwks).keys
        return {key.key_id or "": key for key in keys}

    async def refresh(self) -> None:
        """Fetches the JWKS (when it comes from a URL); at start, and again when a token names an unknown key."""
        if not self._jwks_url:
            return
        async with self._lock:
            if time.monotonic() - self._fetched_at < self._refetch_every:
                return
            self._fetched_at = time.monotonic()
            async with httpx.AsyncClient(timeout=5.0) as client:
                reply = await client.get(self._jwks_url)
                reply.raise_for_status()
            jwks = json.dumps(reply.json(), sort_keys=True)
            if jwks != self._jwks:
                self._verified.clear()  # a key may be withdrawn: the tokens it signed are trusted no longer
            self._keys, self._jwks = self._parse(jwks), jwks
            log.info("jwks fetched", url=self._jwks_url, keys=sorted(self._keys))

    async def verify(self, token: str) -> Principal:
        if (verified := self._verified.get(token)) is not None:
            return verified[0]
        try:
            key_id = jwt.get_unverified_header(token).get("kid", "")
        except jwt.PyJWTError as exc:
            raise InvalidToken(f"malformed token: {exc}") from None
        key = self._keys.get(key_id)
        if key is None:
            try:
                await self.refresh()
            except httpx.HTTPError as exc:
                log.warning("jwks fetch failed", url=self._jwks_url, error=str(exc))
            key = self._keys.get(key_id)
            if key is None:
                raise InvalidToken("the token is not signed by a key of the issuer")
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=ALGORITHMS,
                audience=self._audience,
                issuer=self._issuer,
                leeway=30,  # clocks of issuer and gateway differ a little
                options={"require": ["exp", "iss", "aud", "sub"]},
            )
        except jwt.PyJWTError as exc:
            raise InvalidToken(str(exc)) from None
        scope = claims.get("scope", "")
        principal = Principal(subject=str(claims["sub"]), scopes=frozenset(str(scope).split()))
        self._verified[token] = (principal, float(claims["exp"]))
        return principal
