import uuid

import pytest

from tessera.inventory import domain
from tessera.inventory.domain import Reservation, Status

A, B = sorted([uuid.uuid4(), uuid.uuid4()])


def test_lines_come_back_sorted_by_product_so_locks_are_taken_in_one_order():
    lines = domain.validate_lines([(str(B), 1), (str(A), 2)])
    assert [line.product_id for line in lines] == [A, B]


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ([], "lines"),
        ([("nope", 1)], "lines[0].product_id"),
        ([(str(A), 0)], "lines[0].quantity"),
        ([(str(A), -3)], "lines[0].quantity"),
        ([(str(A), domain.MAX_QUANTITY + 1)], "lines[0].quantity"),
        ([(str(A), 1), (str(A), 2)], "lines[1].product_id"),
    ],
)
def test_bad_lines_name_the_field(raw, field):
    with pytest.raises(domain.InvalidRequest) as raised:
        domain.validate_lines(raw)
    assert field in raised.value.errors


def test_stock_level_available_is_on_hand_minus_reserved():
    assert domain.StockLevel(A, on_hand=10, reserved=3, version=1).available == 7


@pytest.mark.parametrize(
    ("status", "changes"), [(Status.RESERVED, True), (Status.RELEASED, False), (Status.REJECTED, False)]
)
def test_release_is_idempotent(status, changes):
    assert domain.check_can_release(Reservation("o-1", status, ())) is changes


def test_a_committed_reservation_cannot_be_released():
    with pytest.raises(domain.IllegalTransition):
        domain.check_can_release(Reservation("o-1", Status.COMMITTED, ()))


@pytest.mark.parametrize("status", [Status.RELEASED, Status.REJECTED])
def test_only_held_stock_can_be_committed(status):
    with pytest.raises(domain.IllegalTransition):
        domain.check_can_commit(Reservation("o-1", status, ()))
    assert domain.check_can_commit(Reservation("o-1", Status.COMMITTED, ())) is False
    assert domain.check_can_commit(Reservation("o-1", Status.RESERVED, ())) is True


def test_order_id_is_required():
    with pytest.raises(domain.InvalidRequest):
        domain.require_order_id("")
