from datetime import UTC, datetime, timedelta

import pytest

from tessera.catalog import domain

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def make(**overrides):
    fields = dict(sku="SKU-1", name="Mug", description="", price_cents=1299, currency="EUR", now=NOW)
    fields.update(overrides)
    return domain.new_product(**fields)


def test_new_product_starts_at_version_one():
    product = make(name="  Mug  ")
    assert product.version == 1
    assert product.name == "Mug"
    assert product.created_at == product.updated_at == NOW


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"sku": ""}, "sku"),
        ({"sku": "has space"}, "sku"),
        ({"sku": "x" * 65}, "sku"),
        ({"name": "   "}, "name"),
        ({"name": "n" * 201}, "name"),
        ({"description": "d" * 2001}, "description"),
        ({"price_cents": -1}, "price_cents"),
        ({"price_cents": 10**12 + 1}, "price_cents"),
        ({"currency": "eur"}, "currency"),
        ({"currency": ""}, "currency"),
    ],
)
def test_invalid_fields_are_named(overrides, field):
    with pytest.raises(domain.InvalidProduct) as raised:
        make(**overrides)
    assert field in raised.value.errors


def test_all_invalid_fields_are_reported_together():
    with pytest.raises(domain.InvalidProduct) as raised:
        make(sku="", name="", price_cents=-5, currency="x")
    assert set(raised.value.errors) == {"sku", "name", "price_cents", "currency"}


def test_zero_price_is_allowed():
    assert make(price_cents=0).price_cents == 0


def test_apply_changes_bumps_version_and_lists_changed_fields():
    product = make()
    later = NOW + timedelta(minutes=1)
    updated, changed = domain.apply_changes(product, domain.ProductChanges(price_cents=999, name="Mug"), later)
    assert changed == ["price_cents"]
    assert updated.version == 2
    assert updated.price_cents == 999
    assert updated.updated_at == later
    assert updated.created_at == NOW


def test_apply_changes_without_a_real_change_keeps_the_product():
    product = make()
    same, changed = domain.apply_changes(product, domain.ProductChanges(name="Mug", currency="EUR"), NOW)
    assert changed == []
    assert same is product


def test_apply_changes_validates():
    with pytest.raises(domain.InvalidProduct) as raised:
        domain.apply_changes(make(), domain.ProductChanges(price_cents=-1), NOW)
    assert "price_cents" in raised.value.errors
