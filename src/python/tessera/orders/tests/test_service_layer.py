"""The orders' use cases on in-memory fakes of its ports (held to Postgres by the contract test)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

import pytest

from tessera.kit.errors import InvalidRequest, NotFound, SwitchedOff
from tessera.orders import domain
from tessera.orders.service_layer import PLACEMENT_FLAG, OrdersService, OrdersUnitOfWork
from tessera.orders.tests.fakes import FakeOrderRepository
from tessera.testing.fakes import FakeUnitOfWork

MUG = "00000000-0000-0000-0000-000000000001"


class FixedPrices:
    async def prices(self, product_ids: Sequence[str]) -> dict[str, tuple[int, str]]:
        unknown = [p for p in product_ids if p != MUG]
        if unknown:
            raise InvalidRequest({"items": f"unknown products {unknown}"})
        return {MUG: (450, "EUR")}


class Flags:
    def __init__(self) -> None:
        self.off_for: set[str] = set()

    def enabled(self, key: str, default: bool, *, targeting_key: str | None = None) -> bool:
        return not (key == PLACEMENT_FLAG and targeting_key in self.off_for)


@pytest.fixture
def world() -> tuple[OrdersService, FakeOrderRepository, Flags]:
    orders, flags = FakeOrderRepository(), Flags()
    service = OrdersService(lambda: cast(OrdersUnitOfWork, FakeUnitOfWork([], orders=orders)), FixedPrices(), flags)
    return service, orders, flags


def place(key: str = "k-1", customer: str = "c-1", quantity: int = 2) -> domain.PlaceOrder:
    return domain.PlaceOrder(key, customer, ((MUG, quantity),), "pm-1")


async def test_a_placed_order_is_priced_and_a_retry_gets_the_same_order(
    world: tuple[OrdersService, FakeOrderRepository, Flags],
) -> None:
    service, orders, _ = world
    order = await service.place_order(place())
    assert (order.status, order.total_cents, order.version) == ("pending", 900, 1)
    assert await service.place_order(place()) == order
    assert len(orders.store.appended) == 1
    with pytest.raises(InvalidRequest, match="idempotency_key"):
        await service.place_order(place(quantity=3))  # the same key for another order


async def test_keys_are_each_customer_s_own_and_orders_too(
    world: tuple[OrdersService, FakeOrderRepository, Flags],
) -> None:
    service, _, _ = world
    mine, theirs = await service.place_order(place(customer="c-1")), await service.place_order(place(customer="c-2"))
    assert mine.order_id != theirs.order_id
    with pytest.raises(NotFound):
        await service.get_order(theirs.order_id, customer_id="c-1")
    with pytest.raises(NotFound):
        await service.cancel(theirs.order_id, "not mine", customer_id="c-1")
    assert (await service.get_order(theirs.order_id)).status == "pending"


async def test_a_switched_off_placement_refuses_new_orders_but_answers_retries(
    world: tuple[OrdersService, FakeOrderRepository, Flags],
) -> None:
    service, _, flags = world
    order = await service.place_order(place())
    flags.off_for.add("c-1")
    assert await service.place_order(place()) == order
    with pytest.raises(SwitchedOff):
        await service.place_order(place(key="k-2"))


async def test_decisions_are_idempotent_and_final(world: tuple[OrdersService, FakeOrderRepository, Flags]) -> None:
    service, orders, _ = world
    order = await service.place_order(place())
    confirmed = await service.confirm(order.order_id, "pay-1")
    assert await service.confirm(order.order_id, "pay-1") == confirmed  # the saga may retry
    assert len(orders.store.appended) == 2
    with pytest.raises(domain.IllegalTransition):
        await service.reject(order.order_id, "too late")
    history = await service.history(order.order_id)
    assert [e.event_type for e in history] == ["orders.v1.OrderPlaced", "orders.v1.OrderConfirmed"]
