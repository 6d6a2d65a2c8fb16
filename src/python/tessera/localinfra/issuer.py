"""A development token issuer: an RS256 signing key kept in a state directory, its JWKS served over HTTP.

The local stack and the tests run it so the gateway verifies real tokens exactly as it would from a production
issuer (an OIDC provider): it fetches the JWKS from a URL and checks signature, issuer, audience and expiry.
`tools:token` mints tokens with the same key, so they are accepted by the stack that uses this directory.

RS256 rather than ES256: verifying is what the gateway does on every request, and an RSA signature verifies
several times faster than an ECDSA one.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

DEV_ISSUER = "https://issuer.tessera.dev"
AUDIENCE = "tessera-api"
CUSTOMER_SCOPE = "orders"  # acts for the customer named by `sub`: places and reads its own orders
ADMIN_SCOPE = "admin"  # manages the catalog and stock, reads any order
JWKS_PATH = "/.well-known/jwks.json"


@dataclass
class DevIssuer:
    """Signs tokens with a key created on first use in `state_dir` (private to the user: mode 0600)."""

    state_dir: Path
    issuer: str = DEV_ISSUER
    audience: str = AUDIENCE
    _key: rsa.RSAPrivateKey = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        path = self.state_dir / "signing-key.pem"
        if not path.exists():
            key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            pem = key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
            path.touch(mode=0o600)
            path.write_bytes(pem)
        loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if not isinstance(loaded, rsa.RSAPrivateKey):
            raise ValueError(f"{path} does not hold an RSA key")
        self._key = loaded
        # The key id names the key in the JWKS: derived from it, so it changes only when the key does.
        self.key_id = uuid.uuid5(uuid.NAMESPACE_URL, self.public_pem()).hex[:16]

    def public_pem(self) -> str:
        return (
            self._key.public_key()
            .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
            .decode()
        )

    def jwks(self) -> dict[str, Any]:
        jwk: dict[str, Any] = json.loads(RSAAlgorithm.to_jwk(self._key.public_key()))
        jwk.pop("key_ops", None)  # "use" says the same; RFC 7517 advises against both
        return {"keys": [{**jwk, "kid": self.key_id, "alg": "RS256", "use": "sig"}]}

    def mint(
        self,
        subject: str,
        scopes: Iterable[str] = (CUSTOMER_SCOPE,),
        *,
        ttl_seconds: int = 3600,
        audience: str | None = None,
        issuer: str | None = None,
    ) -> str:
        now = int(time.time())
        claims = {
            "iss": issuer or self.issuer,
            "aud": audience or self.audience,
            "sub": subject,
            "scope": " ".join(scopes),
            "iat": now,
            "exp": now + ttl_seconds,
            "jti": uuid.uuid4().hex,
        }
        return jwt.encode(claims, self._key, algorithm="RS256", headers={"kid": self.key_id})

    def customer_token(self, customer_id: str, **kwargs: Any) -> str:
        return self.mint(customer_id, (CUSTOMER_SCOPE,), **kwargs)

    def admin_token(self, **kwargs: Any) -> str:
        return self.mint("admin", (ADMIN_SCOPE,), **kwargs)

    def chart_values(self) -> dict[str, Any]:
        """The chart's `auth` values for this issuer (public parts only)."""
        return {
            "issuer": self.issuer,
            "audience": self.audience,
            "jwks": self.jwks(),
            "publicKeyPem": self.public_pem(),
        }

    def gateway_env(self, jwks_url: str) -> dict[str, str]:
        """The gateway's settings that make it accept this issuer's tokens."""
        return {
            "TESSERA_AUTH_ISSUER": self.issuer,
            "TESSERA_AUTH_AUDIENCE": self.audience,
            "TESSERA_AUTH_JWKS_URL": jwks_url,
        }


class JwksServer:
    """Serves the issuer's JWKS (and OIDC discovery) on 127.0.0.1, in a thread of the calling process.

    The standard library's server: two static JSON documents need no framework.
    """

    def __init__(self, issuer: DevIssuer, port: int = 0) -> None:
        documents = {
            JWKS_PATH: issuer.jwks(),
            "/.well-known/openid-configuration": {"issuer": issuer.issuer},  # jwks_uri filled in below
        }

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                document = documents.get(self.path)
                body = json.dumps(document or {"error": "not found"}).encode()
                self.send_response(200 if document is not None else 404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # one line per fetch on stderr would drown the stack's output

        self._documents = documents
        self._server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self.jwks_url = self.url + JWKS_PATH
        documents["/.well-known/openid-configuration"]["jwks_uri"] = self.jwks_url
        self._thread = threading.Thread(target=self._server.serve_forever, name="jwks", daemon=True)

    def start(self) -> JwksServer:
        self._thread.start()
        return self

    def rotate_to(self, issuer: DevIssuer) -> None:
        """Serves `issuer`'s keys from now on instead: the old key withdrawn, as an issuer rotating its keys."""
        self._documents[JWKS_PATH] = issuer.jwks()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
