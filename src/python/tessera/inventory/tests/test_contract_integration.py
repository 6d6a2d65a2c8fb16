"""The inventory's ports, one suite on the in-memory fakes and on the Postgres adapter: a fake cannot drift."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest

from tessera.inventory import domain, migrations
from tessera.inventory.adapters.messages import event_to_proto
from tessera.inventory.adapters.postgres import PostgresInventoryUnitOfWork
from tessera.inventory.domain import Line, Reservation, Status
from tessera.inventory.tests.fakes import FakeReservationRepository, FakeStockRepository
from tessera.testing.contract import Port, fake_port, postgres_port

pytestmark = pytest.mark.integration
MUG = uuid.UUID(int=1)


@pytest.fixture(params=["fake", "postgres"])
async def port(request: pytest.FixtureRequest, postgres_dsn: str) -> AsyncIterator[Port]:
    if request.param == "fake":
        yield fake_port(stock=FakeStockRepository(), reservations=FakeReservationRepository())
    else:
        async with postgres_port(postgres_dsn, migrations, PostgresInventoryUnitOfWork, event_to_proto) as real:
            yield real


async def test_stock_is_set_versioned_and_its_change_published_on_commit(port: Port) -> None:
    async with port.uow() as uow:
        first = await uow.stock.set_on_hand(MUG, 5)
        second = await uow.stock.set_on_hand(MUG, 7)
        uow.record(domain.StockChanged(second, "set"))
        await uow.commit()
    assert (first.on_hand, first.reserved, first.version) == (5, 0, 1)
    assert (second.on_hand, second.version) == (7, 2)
    async with port.uow() as uow:
        assert await uow.stock.get(MUG) == second
        assert await uow.stock.get(uuid.UUID(int=2)) is None
    assert await port.published() == [("stock", str(MUG), 2)]


async def test_reserving_holds_only_what_is_available_and_on_hand_cannot_fall_below_it(port: Port) -> None:
    async with port.uow() as uow:
        await uow.stock.set_on_hand(MUG, 5)
        held = await uow.stock.try_reserve(Line(MUG, 4))
        assert held is not None and (held.reserved, held.available) == (4, 1)
        assert await uow.stock.try_reserve(Line(MUG, 2)) is None  # only 1 left
        assert await uow.stock.try_reserve(Line(uuid.UUID(int=9), 1)) is None  # no stock at all
        await uow.commit()
    async with port.uow() as uow:
        with pytest.raises(domain.InvalidRequest):
            await uow.stock.set_on_hand(MUG, 3)
    async with port.uow() as uow:
        released = await uow.stock.unreserve(Line(MUG, 1))
        shipped = await uow.stock.ship(Line(MUG, 3))
        await uow.commit()
    assert (released.reserved, shipped.on_hand, shipped.reserved) == (3, 2, 0)


async def test_a_savepoint_undoes_only_what_followed_it(port: Port) -> None:
    async with port.uow() as uow:
        await uow.stock.set_on_hand(MUG, 5)
        savepoint = await uow.savepoint()
        await uow.stock.try_reserve(Line(MUG, 2))
        await savepoint.rollback()
        await uow.commit()
    async with port.uow() as uow:
        level = await uow.stock.get(MUG)
    assert level is not None and (level.on_hand, level.reserved) == (5, 0)


async def test_a_reservation_is_inserted_once_and_its_status_changes(port: Port) -> None:
    reservation = Reservation("o-1", Status.RESERVED, (Line(MUG, 2),))
    async with port.uow() as uow:
        assert await uow.reservations.insert_if_absent(reservation) is None
        assert await uow.reservations.insert_if_absent(Reservation("o-1", Status.RELEASED, ())) == reservation
        await uow.commit()
    async with port.uow() as uow:
        await uow.reservations.set_status("o-1", Status.REJECTED, "no stock")
        await uow.commit()
    async with port.uow() as uow:
        assert await uow.reservations.get("o-1", for_update=True) == Reservation(
            "o-1", Status.REJECTED, (Line(MUG, 2),), "no stock"
        )
        assert await uow.reservations.get("o-2") is None


async def test_without_commit_nothing_is_kept_or_published(port: Port) -> None:
    async with port.uow() as uow:
        level = await uow.stock.set_on_hand(MUG, 5)
        await uow.reservations.insert_if_absent(Reservation("o-1", Status.RESERVED, (Line(MUG, 1),)))
        uow.record(domain.StockChanged(level, "set"))
    async with port.uow() as uow:
        assert await uow.stock.get(MUG) is None and await uow.reservations.get("o-1") is None
    assert await port.published() == []
