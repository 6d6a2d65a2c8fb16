"""Request fields every service reads the same way: UUID ids and opaque page tokens.

Bad values raise InvalidRequest naming the field, which the kit's server answers with INVALID_ARGUMENT.
"""

from __future__ import annotations

import base64
import binascii
import uuid

from tessera.kit.errors import InvalidRequest

_SEPARATOR = "\x1f"  # the unit separator: in no id, SKU or timestamp a page token carries


def parse_uuid(raw: str, field: str) -> uuid.UUID:
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise InvalidRequest({field: "must be a UUID"}) from None


def encode_page_token(*parts: str) -> str:
    """An opaque token for "continue after this": URL-safe, so it travels in a query string."""
    return base64.urlsafe_b64encode(_SEPARATOR.join(parts).encode()).decode()


def decode_page_token(token: str, parts: int) -> list[str]:
    """The `parts` values of a token from `encode_page_token`; InvalidRequest for anything else."""
    try:
        values = base64.b64decode(token.encode(), altchars=b"-_", validate=True).decode().split(_SEPARATOR)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        values = []
    if len(values) != parts:
        raise InvalidRequest({"page_token": "is not a token this service issued"})
    return values
