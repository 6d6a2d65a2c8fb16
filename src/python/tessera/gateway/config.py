"""The gateway's settings (environment variables prefixed TESSERA_)."""

from __future__ import annotations

from pydantic import Field

from tessera.kit.config import ClientSettings, HttpSettings, RedisSettings, ServiceSettings


class GatewaySettings(ServiceSettings, ClientSettings, RedisSettings, HttpSettings):
    service_name: str = "gateway"
    # How long the last good catalog answers are kept (in Redis) to serve while the catalog is down.
    catalog_fallback_ttl_seconds: int = Field(default=86_400, gt=0)
    # Bearer tokens: the issuer and audience they must name, and the issuer's public keys: a JWKS URL (fetched
    # at start and when a token names a key not seen yet), or the JWKS document itself (e.g. from a ConfigMap).
    auth_issuer: str = Field(min_length=1)
    auth_audience: str = Field(default="tessera-api", min_length=1)
    auth_jwks_url: str = ""
    auth_jwks: str = ""
    # Requests per caller (the token's subject), counted in Redis across replicas, in limits' notation
    # ("20/second;600/minute": each must hold). Empty: no limit.
    rate_limit: str = "20/second;600/minute"
