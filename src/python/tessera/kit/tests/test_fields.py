"""Request fields read the same way by every service."""

import base64

import pytest

from tessera.kit.errors import InvalidRequest
from tessera.kit.fields import decode_page_token, encode_page_token, parse_uuid


def test_an_id_that_is_no_uuid_names_its_field() -> None:
    assert str(parse_uuid("00000000-0000-0000-0000-000000000001", "product_id")).endswith("1")
    with pytest.raises(InvalidRequest) as raised:
        parse_uuid("42", "product_id")
    assert raised.value.errors == {"product_id": "must be a UUID"}


def test_a_page_token_carries_its_parts_back() -> None:
    token = encode_page_token("2026-11-26T12:00:00+00:00", "order|with|bars")
    assert decode_page_token(token, parts=2) == ["2026-11-26T12:00:00+00:00", "order|with|bars"]
    assert decode_page_token(encode_page_token("MUG-1"), parts=1) == ["MUG-1"]


@pytest.mark.parametrize(
    "token",
    ["not base64!", base64.urlsafe_b64encode(b"\xff\xfe").decode(), encode_page_token("only-one"), "=="],
)
def test_a_token_this_service_did_not_issue_is_refused(token: str) -> None:
    with pytest.raises(InvalidRequest) as raised:
        decode_page_token(token, parts=2)
    assert raised.value.errors == {"page_token": "is not a token this service issued"}
