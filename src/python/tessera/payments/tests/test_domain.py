from datetime import UTC, datetime, timedelta

import pytest

from tessera.payments import domain
from tessera.payments.domain import Status


def authorize(**overrides):
    fields = dict(
        idempotency_key="k-1",
        order_id="o-1",
        amount_cents=500,
        currency="EUR",
        payment_method_id="pm-1",
        card_token="tok_ok",
    )
    fields.update(overrides)
    return domain.authorize(**fields)


def test_a_good_card_is_authorized():
    assert authorize().status is Status.AUTHORIZED


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"card_token": domain.DECLINE_TOKEN}, "declined by issuer"),
        ({"amount_cents": domain.DECLINE_ABOVE_CENTS + 1}, "above the limit"),
        ({"card_token": None}, "payment method is unknown, expired or already used"),
    ],
)
def test_the_documented_decline_rule(overrides, reason):
    payment = authorize(**overrides)
    assert payment.status is Status.DECLINED
    assert reason in payment.decline_reason


def test_the_limit_itself_is_still_authorized():
    assert authorize(amount_cents=domain.DECLINE_ABOVE_CENTS).status is Status.AUTHORIZED


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"idempotency_key": ""}, "idempotency_key"),
        ({"order_id": ""}, "order_id"),
        ({"amount_cents": 0}, "amount_cents"),
        ({"currency": "eu"}, "currency"),
        ({"payment_method_id": ""}, "payment_method_id"),
    ],
)
def test_bad_fields_are_named(overrides, field):
    with pytest.raises(domain.InvalidRequest) as raised:
        authorize(**overrides)
    assert field in raised.value.errors


def test_capture_then_cancel_refunds_and_both_are_idempotent():
    captured = domain.capture(authorize())
    assert captured is not None and captured.status is Status.CAPTURED
    assert domain.capture(captured) is None
    refunded = domain.cancel(captured)
    assert refunded is not None and refunded.status is Status.REFUNDED
    assert domain.cancel(refunded) is None


def test_cancel_before_capture_voids():
    voided = domain.cancel(authorize())
    assert voided is not None and voided.status is Status.VOIDED
    with pytest.raises(domain.IllegalTransition):
        domain.capture(voided)


def test_a_declined_payment_has_nothing_to_cancel_and_cannot_capture():
    declined = authorize(card_token=domain.DECLINE_TOKEN)
    assert domain.cancel(declined) is None
    with pytest.raises(domain.IllegalTransition):
        domain.capture(declined)


def test_a_method_holds_its_token_for_its_lifetime_and_never_shows_it():
    now = datetime(2026, 1, 1, tzinfo=UTC)
    method = domain.register_method(
        idempotency_key="k", customer_id="c-1", card_token="tok_secret", now=now, lifetime=timedelta(minutes=5)
    )
    assert method.expires_at == now + timedelta(minutes=5)
    assert "tok_secret" not in repr(method)
    assert domain.same_registration(method, method)
    other = domain.register_method(
        idempotency_key="k", customer_id="c-1", card_token="tok_other", now=now, lifetime=timedelta(minutes=5)
    )
    assert not domain.same_registration(method, other)
    with pytest.raises(domain.InvalidRequest) as raised:
        domain.register_method(idempotency_key="", customer_id="", card_token="", now=now, lifetime=timedelta(1))
    assert set(raised.value.errors) == {"idempotency_key", "customer_id", "card_token"}
