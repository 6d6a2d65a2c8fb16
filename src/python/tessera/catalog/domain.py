"""The catalog's domain: what a product is and which changes are allowed. No I/O here."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, replace
from datetime import datetime

from tessera.kit.errors import AlreadyExists, ConcurrencyConflict, InvalidRequest, NotFound

SKU_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
CURRENCY_PATTERN = re.compile(r"^[A-Z]{3}$")
MAX_NAME = 200
MAX_DESCRIPTION = 2000
MAX_PRICE_CENTS = 10**12


class InvalidProduct(InvalidRequest):
    pass


class ProductNotFound(NotFound):
    def __init__(self, product_id: str) -> None:
        super().__init__(f"product {product_id} not found")


class SkuAlreadyExists(AlreadyExists):
    def __init__(self, sku: str) -> None:
        super().__init__(f"a product with SKU {sku!r} already exists")


class VersionConflict(ConcurrencyConflict):
    def __init__(self, product_id: str, expected: int, actual: int) -> None:
        super().__init__(f"product {product_id} is at version {actual}, not {expected}")


@dataclass(frozen=True)
class Product:
    product_id: uuid.UUID
    sku: str
    name: str
    description: str
    price_cents: int
    currency: str
    version: int
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class ProductChanges:
    """An update: None means "leave as it is"."""

    name: str | None = None
    description: str | None = None
    price_cents: int | None = None
    currency: str | None = None


def _field_errors(
    *,
    sku: str | None,
    name: str | None,
    description: str | None,
    price_cents: int | None,
    currency: str | None,
) -> dict[str, str]:
    errors: dict[str, str] = {}
    if sku is not None and not SKU_PATTERN.match(sku):
        errors["sku"] = "must be 1-64 characters of letters, digits, '.', '_' or '-', starting with a letter or digit"
    if name is not None and not name.strip():
        errors["name"] = "is required"
    elif name is not None and len(name) > MAX_NAME:
        errors["name"] = f"must be at most {MAX_NAME} characters"
    if description is not None and len(description) > MAX_DESCRIPTION:
        errors["description"] = f"must be at most {MAX_DESCRIPTION} characters"
    if price_cents is not None and price_cents < 0:
        errors["price_cents"] = "must not be negative"
    elif price_cents is not None and price_cents > MAX_PRICE_CENTS:
        errors["price_cents"] = f"must be at most {MAX_PRICE_CENTS}"
    if currency is not None and not CURRENCY_PATTERN.match(currency):
        errors["currency"] = "must be a 3-letter ISO 4217 code in capitals, e.g. EUR"
    return errors


def new_product(*, sku: str, name: str, description: str, price_cents: int, currency: str, now: datetime) -> Product:
    errors = _field_errors(sku=sku, name=name, description=description, price_cents=price_cents, currency=currency)
    if errors:
        raise InvalidProduct(errors)
    return Product(
        product_id=uuid.uuid4(),
        sku=sku,
        name=name.strip(),
        description=description,
        price_cents=price_cents,
        currency=currency,
        version=1,
        created_at=now,
        updated_at=now,
    )


def apply_changes(product: Product, changes: ProductChanges, now: datetime) -> tuple[Product, list[str]]:
    """The product after `changes`, and the names of the fields that really changed (none: same product)."""
    errors = _field_errors(
        sku=None,
        name=changes.name,
        description=changes.description,
        price_cents=changes.price_cents,
        currency=changes.currency,
    )
    if errors:
        raise InvalidProduct(errors)
    wanted = {
        "name": changes.name.strip() if changes.name is not None else None,
        "description": changes.description,
        "price_cents": changes.price_cents,
        "currency": changes.currency,
    }
    changed = {k: v for k, v in wanted.items() if v is not None and getattr(product, k) != v}
    if not changed:
        return product, []
    updated = replace(product, **changed, version=product.version + 1, updated_at=now)  # type: ignore[arg-type]
    return updated, sorted(changed)


# --- domain events: what happened; adapters turn them into catalog.v1 messages on Kafka ---


@dataclass(frozen=True)
class ProductEvent:
    """A change to a product: the kit publishes it keyed by the product, at the product's new version."""

    product: Product
    aggregate_type = "product"

    @property
    def aggregate_id(self) -> str:
        return str(self.product.product_id)

    @property
    def aggregate_version(self) -> int:
        return self.product.version


@dataclass(frozen=True)
class ProductCreated(ProductEvent):
    pass


@dataclass(frozen=True)
class ProductUpdated(ProductEvent):
    changed_fields: list[str]


DomainEvent = ProductCreated | ProductUpdated
