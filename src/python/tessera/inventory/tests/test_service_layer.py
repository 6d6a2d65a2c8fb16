"""The inventory's use cases on in-memory fakes of its ports (held to Postgres by the contract test)."""

from __future__ import annotations

import uuid
from typing import Any, cast

import pytest

from tessera.inventory import domain
from tessera.inventory.domain import Status
from tessera.inventory.service_layer import InventoryService, InventoryUnitOfWork
from tessera.inventory.tests.fakes import FakeReservationRepository, FakeStockRepository
from tessera.testing.fakes import FakeUnitOfWork

MUG, PLATE = str(uuid.UUID(int=1)), str(uuid.UUID(int=2))


@pytest.fixture
def inventory() -> tuple[InventoryService, list[Any]]:
    stock, reservations, published = FakeStockRepository(), FakeReservationRepository(), list[Any]()
    return (
        InventoryService(
            lambda: cast(InventoryUnitOfWork, FakeUnitOfWork(published, stock=stock, reservations=reservations))
        ),
        published,
    )


async def test_a_reservation_holds_every_line_or_none(inventory: tuple[InventoryService, list[Any]]) -> None:
    service, published = inventory
    await service.set_stock(MUG, 5)
    await service.set_stock(PLATE, 1)
    rejected = await service.reserve("o-1", [(MUG, 2), (PLATE, 3)])
    assert rejected.status == Status.REJECTED and "not enough stock" in rejected.reason
    assert (await service.get_stock(MUG)).reserved == 0  # the mug's hold was undone with the plate's refusal
    assert [e.cause for e in published] == ["set", "set"]
    assert (await service.reserve("o-2", [(MUG, 2), (PLATE, 1)])).status == Status.RESERVED
    assert [e.cause for e in published[2:]] == ["reserved", "reserved"]


async def test_the_first_outcome_for_an_order_is_the_outcome_for_good(
    inventory: tuple[InventoryService, list[Any]],
) -> None:
    service, _ = inventory
    await service.set_stock(MUG, 1)
    assert (await service.reserve("o-1", [(MUG, 5)])).status == Status.REJECTED
    await service.set_stock(MUG, 10)
    assert (await service.reserve("o-1", [(MUG, 5)])).status == Status.REJECTED  # a retry: same answer
    assert (await service.get_reservation("o-1")).status == Status.REJECTED


async def test_release_before_reserve_blocks_a_late_reservation(inventory: tuple[InventoryService, list[Any]]) -> None:
    service, _ = inventory
    await service.set_stock(MUG, 5)
    assert (await service.release("o-1")).status == Status.RELEASED
    assert (await service.reserve("o-1", [(MUG, 1)])).status == Status.RELEASED
    assert (await service.get_stock(MUG)).reserved == 0


async def test_commit_ships_the_held_stock(inventory: tuple[InventoryService, list[Any]]) -> None:
    service, published = inventory
    await service.set_stock(MUG, 5)
    await service.reserve("o-1", [(MUG, 2)])
    assert (await service.commit("o-1")).status == Status.COMMITTED
    level = await service.get_stock(MUG)
    assert (level.on_hand, level.reserved) == (3, 0)
    assert published[-1].cause == "committed" and published[-1].correlation_id == "o-1"
    with pytest.raises(domain.NotFound):
        await service.commit("o-unknown")
