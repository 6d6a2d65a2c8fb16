"""Building and reading the common event envelope (events.v1.EventEnvelope)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import TypeVar

from google.protobuf.message import Message

from events.v1 import envelope_pb2
from tessera.kit import tracing

MessageT = TypeVar("MessageT", bound=Message)


def make_envelope(
    payload: Message,
    *,
    aggregate_type: str,
    aggregate_id: str,
    aggregate_version: int,
    producer: str,
    correlation_id: str = "",
    event_id: str | None = None,
    occurred_at: datetime | None = None,
) -> envelope_pb2.EventEnvelope:
    envelope = envelope_pb2.EventEnvelope(
        event_id=event_id or str(uuid.uuid4()),
        event_type=payload.DESCRIPTOR.full_name,
        aggregate_type=aggregate_type,
        aggregate_id=aggregate_id,
        aggregate_version=aggregate_version,
        producer=producer,
        correlation_id=correlation_id,
    )
    envelope.occurred_at.FromDatetime(occurred_at or datetime.now(UTC))
    # The trace of the request that caused the event travels with it, so consumers continue the same trace.
    envelope.trace.traceparent = tracing.current_traceparent()
    envelope.payload.Pack(payload)
    return envelope


def unpack(envelope: envelope_pb2.EventEnvelope, message_type: type[MessageT]) -> MessageT:
    """The payload as `message_type`; ValueError if the envelope carries another type."""
    message = message_type()
    if not envelope.payload.Unpack(message):
        raise ValueError(f"event {envelope.event_id} carries {envelope.event_type}, not {message.DESCRIPTOR.full_name}")
    return message


def parse(raw: bytes) -> envelope_pb2.EventEnvelope:
    envelope = envelope_pb2.EventEnvelope()
    envelope.ParseFromString(raw)
    return envelope
