"""Token verification: only the issuer's signature, issuer, audience and an unexpired token make a caller."""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

from tessera.gateway.adapters.tokens import InvalidToken, Principal, TokenVerifier
from tessera.localinfra.issuer import AUDIENCE, DevIssuer


@pytest.fixture
def issuer(tmp_path: Path) -> DevIssuer:
    return DevIssuer(tmp_path / "issuer")


@pytest.fixture
def verifier(issuer: DevIssuer) -> TokenVerifier:
    return TokenVerifier(issuer.issuer, AUDIENCE, jwks=json.dumps(issuer.jwks()))


async def test_a_customer_token_acts_for_its_subject_and_an_admin_token_for_any(
    issuer: DevIssuer, verifier: TokenVerifier
) -> None:
    customer = await verifier.verify(issuer.customer_token("c-1"))
    assert customer == Principal("c-1", frozenset({"orders"}))
    assert customer.customer_id == "c-1" and not customer.is_admin
    assert customer.may_read("c-1") and not customer.may_read("c-2")
    admin = await verifier.verify(issuer.admin_token())
    assert admin.is_admin and admin.customer_id is None and admin.may_read("c-2")


async def test_the_key_survives_in_its_directory(issuer: DevIssuer, verifier: TokenVerifier) -> None:
    again = DevIssuer(issuer.state_dir)
    assert again.key_id == issuer.key_id
    assert (await verifier.verify(again.customer_token("c-1"))).subject == "c-1"
    assert (issuer.state_dir / "signing-key.pem").stat().st_mode & 0o077 == 0  # private to its user


async def test_every_kind_of_bad_token_is_refused_with_the_reason(
    issuer: DevIssuer, verifier: TokenVerifier, tmp_path: Path
) -> None:
    stranger = DevIssuer(tmp_path / "stranger")
    unsigned = jwt.encode({"iss": issuer.issuer, "aud": AUDIENCE, "sub": "c-1", "exp": 2**40}, "", algorithm="none")
    # The public key used as an HMAC secret: the classic algorithm confusion (PyJWT will not even sign it).
    claims = {"iss": issuer.issuer, "aud": AUDIENCE, "sub": "c-1", "exp": 2**40}
    confused = _signed_with_hmac(claims, issuer.key_id, issuer.public_pem().encode())
    cases = {
        "garbage": ("not-a-token", "malformed"),
        "unknown key": (stranger.customer_token("c-1"), "not signed by a key of the issuer"),
        "same kid, other key": (_with_kid(stranger, issuer.key_id), "signature"),
        "expired": (issuer.customer_token("c-1", ttl_seconds=-120), "expired"),
        "audience": (issuer.customer_token("c-1", audience="other"), "audience"),
        "issuer": (issuer.customer_token("c-1", issuer="https://evil.example"), "issuer"),
        "unsigned": (unsigned, ""),
        "hmac with the public key": (confused, ""),
    }
    for case, (token, reason) in cases.items():
        with pytest.raises(InvalidToken) as refused:
            await verifier.verify(token)
        assert reason.lower() in str(refused.value).lower(), (case, str(refused.value))


def _signed_with_hmac(claims: dict[str, object], kid: str, secret: bytes) -> str:
    def part(value: dict[str, object]) -> str:
        return jwt.utils.base64url_encode(json.dumps(value).encode()).decode()

    signing_input = f"{part({'alg': 'HS256', 'typ': 'JWT', 'kid': kid})}.{part(claims)}"
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{jwt.utils.base64url_encode(signature).decode()}"


def _with_kid(issuer: DevIssuer, kid: str) -> str:
    token = issuer.customer_token("c-1")
    header, payload, signature = token.split(".")
    forged = jwt.utils.base64url_encode(json.dumps({"alg": "RS256", "typ": "JWT", "kid": kid}).encode()).decode()
    return f"{forged}.{payload}.{signature}"


async def test_es256_tokens_verify_too() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    jwk = {**json.loads(ECAlgorithm.to_jwk(key.public_key())), "kid": "ec-1", "alg": "ES256", "use": "sig"}
    verifier = TokenVerifier("https://issuer.example", AUDIENCE, jwks=json.dumps({"keys": [jwk]}))
    claims = {"iss": "https://issuer.example", "aud": AUDIENCE, "sub": "c-9", "scope": "orders", "exp": 2**40}
    token = jwt.encode(claims, key, algorithm="ES256", headers={"kid": "ec-1"})
    assert await verifier.verify(token) == Principal("c-9", frozenset({"orders"}))


def test_a_verifier_needs_the_issuers_keys() -> None:
    with pytest.raises(ValueError, match="JWKS"):
        TokenVerifier("https://issuer.example", AUDIENCE)


async def test_a_verified_token_is_remembered_until_its_expiry_and_only_that_very_token(
    issuer: DevIssuer, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = [1_000_000.0]
    verifier = TokenVerifier(issuer.issuer, AUDIENCE, jwks=json.dumps(issuer.jwks()), clock=lambda: now[0])
    checked: list[str] = []
    decode = jwt.decode

    def counted(token: str, *args: Any, **kwargs: Any) -> Any:
        checked.append(token)
        return decode(token, *args, **kwargs)

    monkeypatch.setattr(jwt, "decode", counted)
    token = issuer.customer_token("c-1", ttl_seconds=600)
    expiry = float(jwt.decode(token, options={"verify_signature": False})["exp"])
    checked.clear()
    now[0] = expiry - 1
    assert (await verifier.verify(token)).subject == "c-1"
    assert (await verifier.verify(token)).subject == "c-1"
    assert checked == [token]  # the signature checked once
    # Another signature on the same claims is not the verified token: checked, and refused.
    signed, signature = token.rsplit(".", 1)
    flipped = "B" if signature[10] == "A" else "A"
    forged = f"{signed}.{signature[:10]}{flipped}{signature[11:]}"
    with pytest.raises(InvalidToken):
        await verifier.verify(forged)
    now[0] = expiry  # expired: checked again (PyJWT's leeway still admits it for 30 s)
    assert (await verifier.verify(token)).subject == "c-1"
    assert checked == [token, forged, token]
