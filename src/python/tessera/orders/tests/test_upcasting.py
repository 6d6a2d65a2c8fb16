"""OrderPlaced v1 (with the raw card token in field 6) becomes v2 without it; v2 events are left alone."""

from __future__ import annotations

from google.protobuf.any_pb2 import Any as AnyMessage
from orders.v1 import events_pb2

from events.v1 import envelope_pb2
from tessera.kit.events import make_envelope
from tessera.orders.adapters.upcasting import upcast


def v1_order_placed(token: str = "tok_secret_v1") -> envelope_pb2.EventEnvelope:
    """An envelope as version 1 wrote it: the v2 fields, and the token in field 6 (now reserved)."""
    placed = events_pb2.OrderPlaced(order_id="o-1", customer_id="c-1", total_cents=500, currency="EUR")
    field_6 = bytes([6 << 3 | 2, len(token)]) + token.encode()  # tag (field 6, length-delimited), length, text
    envelope = make_envelope(placed, aggregate_type="order", aggregate_id="o-1", aggregate_version=1, producer="t")
    envelope.payload.CopyFrom(
        AnyMessage(type_url=envelope.payload.type_url, value=placed.SerializeToString() + field_6)
    )
    return envelope


def test_a_v1_event_loses_its_token_and_keeps_everything_else() -> None:
    envelope = v1_order_placed()
    assert b"tok_secret_v1" in envelope.SerializeToString()
    assert upcast(envelope) is True
    assert b"tok_secret_v1" not in envelope.SerializeToString()
    placed = events_pb2.OrderPlaced()
    envelope.payload.Unpack(placed)
    assert (placed.order_id, placed.customer_id, placed.total_cents, placed.payment_method_id) == (
        "o-1",
        "c-1",
        500,
        "",
    )
    assert upcast(envelope) is False  # already v2


def test_v2_events_and_other_types_are_left_as_they_are() -> None:
    placed = events_pb2.OrderPlaced(order_id="o-1", payment_method_id="pm-1")
    envelope = make_envelope(placed, aggregate_type="order", aggregate_id="o-1", aggregate_version=1, producer="t")
    before = envelope.SerializeToString()
    assert upcast(envelope) is False and envelope.SerializeToString() == before
    confirmed = make_envelope(
        events_pb2.OrderConfirmed(order_id="o-1"), aggregate_type="order", aggregate_id="o-1", aggregate_version=2,
        producer="t",
    )  # fmt: skip
    assert upcast(confirmed) is False
