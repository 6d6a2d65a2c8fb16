"""Mapping between the domain and the catalog.v1 protobuf messages (API responses and events)."""

from __future__ import annotations

import uuid
from datetime import UTC

from google.protobuf.message import Message

from catalog.v1 import catalog_pb2, events_pb2
from tessera.catalog import domain


def product_to_proto(product: domain.Product) -> catalog_pb2.Product:
    message = catalog_pb2.Product(
        product_id=str(product.product_id),
        sku=product.sku,
        name=product.name,
        description=product.description,
        price_cents=product.price_cents,
        currency=product.currency,
        version=product.version,
    )
    message.created_at.FromDatetime(product.created_at)
    message.updated_at.FromDatetime(product.updated_at)
    return message


def product_from_proto(message: catalog_pb2.Product) -> domain.Product:
    return domain.Product(
        product_id=uuid.UUID(message.product_id),
        sku=message.sku,
        name=message.name,
        description=message.description,
        price_cents=message.price_cents,
        currency=message.currency,
        version=message.version,
        created_at=message.created_at.ToDatetime(tzinfo=UTC),
        updated_at=message.updated_at.ToDatetime(tzinfo=UTC),
    )


def event_to_proto(event: domain.DomainEvent) -> Message:
    match event:
        case domain.ProductCreated(product=product):
            return events_pb2.ProductCreated(product=product_to_proto(product))
        case domain.ProductUpdated(product=product, changed_fields=changed):
            return events_pb2.ProductUpdated(product=product_to_proto(product), changed_fields=changed)
    raise TypeError(f"unknown event {event!r}")
