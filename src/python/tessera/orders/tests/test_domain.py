from datetime import UTC, datetime

import pytest

from tessera.orders import domain
from tessera.orders.domain import Order, PlaceOrder, Status

T0 = datetime(2026, 1, 1, tzinfo=UTC)
PRICES = {"p-1": (250, "EUR"), "p-2": (1000, "EUR")}


def command(**overrides):
    fields = dict(idempotency_key="k", customer_id="c-1", items=(("p-1", 2), ("p-2", 1)), payment_method_id="pm-1")
    fields.update(overrides)
    return PlaceOrder(**fields)


def placed() -> Order:
    events = domain.place("o-1", command(), PRICES)
    return Order.replay("o-1", [(e, T0) for e in events])


def test_place_prices_the_lines_and_totals_them():
    order = placed()
    assert order.status is Status.PENDING
    assert order.total_cents == 2 * 250 + 1000
    assert order.currency == "EUR"
    assert order.version == 1
    assert order.placed_at == T0


def test_products_in_two_currencies_are_refused():
    with pytest.raises(domain.InvalidRequest):
        domain.place("o-1", command(), {"p-1": (250, "EUR"), "p-2": (1000, "USD")})


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"idempotency_key": ""}, "idempotency_key"),
        ({"customer_id": ""}, "customer_id"),
        ({"payment_method_id": ""}, "payment_method_id"),
        ({"items": ()}, "items"),
        ({"items": (("p-1", 0),)}, "items[0].quantity"),
        ({"items": (("p-1", 1), ("p-1", 2))}, "items[1].product_id"),
    ],
)
def test_bad_commands_name_the_field(overrides, field):
    with pytest.raises(domain.InvalidRequest) as raised:
        domain.validate(command(**overrides))
    assert field in raised.value.errors


def test_fingerprint_ignores_item_order_but_not_content():
    assert command().fingerprint() == command(items=(("p-2", 1), ("p-1", 2))).fingerprint()
    assert command().fingerprint() != command(items=(("p-1", 3), ("p-2", 1))).fingerprint()


def test_confirm_is_idempotent_and_final():
    order = placed()
    confirmed = order.apply(domain.confirm(order, "pay-1")[0], T0)
    assert (confirmed.status, confirmed.payment_id, confirmed.version) == (Status.CONFIRMED, "pay-1", 2)
    assert domain.confirm(confirmed, "pay-1") == []
    with pytest.raises(domain.IllegalTransition):
        domain.cancel(confirmed, "too late")
    with pytest.raises(domain.IllegalTransition):
        domain.reject(confirmed, "too late")


def test_a_cancelled_order_cannot_be_confirmed_and_rejecting_it_is_a_no_op():
    order = placed()
    cancelled = order.apply(domain.cancel(order, "")[0], T0)
    assert cancelled.status is Status.CANCELLED
    with pytest.raises(domain.IllegalTransition):
        domain.confirm(cancelled, "pay-1")
    assert domain.reject(cancelled, "saga compensated") == []


def test_replay_rebuilds_the_same_state_as_applying():
    order = placed()
    events = [domain.place("o-1", command(), PRICES)[0], domain.OrderRejected("o-1", "payment declined")]
    replayed = Order.replay("o-1", [(e, T0) for e in events])
    assert replayed == order.apply(events[1], T0)
    assert replayed.reject_reason == "payment declined"
