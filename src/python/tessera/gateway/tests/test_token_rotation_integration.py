"""The issuer rotates its keys (served over HTTP, as the gateway fetches them): a token the withdrawn key signed,
verified and remembered before, is refused after the gateway has fetched the new keys."""

from __future__ import annotations

from pathlib import Path

import pytest

from tessera.gateway.adapters.tokens import InvalidToken, TokenVerifier
from tessera.localinfra.issuer import AUDIENCE, DevIssuer, JwksServer

pytestmark = pytest.mark.integration


async def test_a_remembered_token_of_a_withdrawn_key_is_refused_once_the_new_keys_are_fetched(
    tmp_path: Path,
) -> None:
    old, new = DevIssuer(tmp_path / "old"), DevIssuer(tmp_path / "new")
    server = JwksServer(old).start()
    try:
        verifier = TokenVerifier(old.issuer, AUDIENCE, jwks_url=server.jwks_url, refetch_every=0)
        await verifier.refresh()
        before = old.customer_token("c-1")
        assert (await verifier.verify(before)).subject == "c-1"  # verified, and remembered
        server.rotate_to(new)
        # A token of the new key: its key id is unknown, so the gateway fetches the keys again.
        assert (await verifier.verify(new.customer_token("c-2"))).subject == "c-2"
        with pytest.raises(InvalidToken, match="not signed by a key of the issuer"):
            await verifier.verify(before)
    finally:
        server.stop()
