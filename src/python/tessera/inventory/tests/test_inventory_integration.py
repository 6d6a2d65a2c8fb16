"""The inventory over gRPC on a real Postgres (and Kafka for its events)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import asyncpg
import grpc
import pytest
from inventory.v1 import events_pb2, inventory_pb2, inventory_pb2_grpc

from tessera.inventory.bootstrap import SPEC
from tessera.inventory.config import InventorySettings
from tessera.kit.events import unpack
from tessera.testing.events import collect_events
from tessera.testing.services import serving
from tessera.topology import topic_of

pytestmark = pytest.mark.integration

RESERVED = inventory_pb2.RESERVATION_STATUS_RESERVED
REJECTED = inventory_pb2.RESERVATION_STATUS_REJECTED
RELEASED = inventory_pb2.RESERVATION_STATUS_RELEASED
COMMITTED = inventory_pb2.RESERVATION_STATUS_COMMITTED


@dataclass
class Inventory:
    stub: inventory_pb2_grpc.InventoryServiceAsyncStub
    db: asyncpg.Connection
    settings: InventorySettings


@pytest.fixture
async def inventory(postgres_dsn: str, kafka_bootstrap: str, topic_prefix: str) -> AsyncIterator[Inventory]:
    settings = InventorySettings(
        postgres_dsn=postgres_dsn,
        kafka_bootstrap=kafka_bootstrap,
        kafka_topic_prefix=topic_prefix,
        grpc_port=0,
        postgres_pool_max=20,
        shutdown_grace_seconds=0.5,
    )
    async with serving(SPEC, settings) as served:
        yield Inventory(inventory_pb2_grpc.InventoryServiceStub(served.channel), served.db, settings)


def line(product_id: str, quantity: int) -> inventory_pb2.Line:
    return inventory_pb2.Line(product_id=product_id, quantity=quantity)


async def stocked(inventory: Inventory, on_hand: int) -> str:
    product_id = str(uuid.uuid4())
    await inventory.stub.SetStock(inventory_pb2.SetStockRequest(product_id=product_id, on_hand=on_hand))
    return product_id


async def available(inventory: Inventory, product_id: str) -> int:
    return (await inventory.stub.GetStock(inventory_pb2.GetStockRequest(product_id=product_id))).available


async def test_reserve_is_idempotent_per_order(inventory: Inventory) -> None:
    product = await stocked(inventory, 5)
    request = inventory_pb2.ReserveRequest(order_id="o-1", lines=[line(product, 2)])
    first = await inventory.stub.Reserve(request)
    again = await inventory.stub.Reserve(request)
    assert first.status == again.status == RESERVED
    assert await available(inventory, product) == 3


async def test_all_lines_or_none(inventory: Inventory) -> None:
    plenty, scarce = await stocked(inventory, 10), await stocked(inventory, 1)
    result = await inventory.stub.Reserve(
        inventory_pb2.ReserveRequest(order_id="o-2", lines=[line(plenty, 3), line(scarce, 2)])
    )
    assert result.status == REJECTED
    assert "not enough stock" in result.reason
    assert (await available(inventory, plenty), await available(inventory, scarce)) == (10, 1)
    # The rejection is the order's outcome for good, even once stock arrives.
    await inventory.stub.SetStock(inventory_pb2.SetStockRequest(product_id=scarce, on_hand=50))
    again = await inventory.stub.Reserve(inventory_pb2.ReserveRequest(order_id="o-2", lines=[line(scarce, 2)]))
    assert again.status == REJECTED


async def test_release_gives_stock_back_once_and_commit_ships_it(inventory: Inventory) -> None:
    product = await stocked(inventory, 4)
    await inventory.stub.Reserve(inventory_pb2.ReserveRequest(order_id="released", lines=[line(product, 3)]))
    for _ in range(2):
        released = await inventory.stub.Release(inventory_pb2.ReleaseRequest(order_id="released"))
        assert released.status == RELEASED
    assert await available(inventory, product) == 4
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await inventory.stub.Commit(inventory_pb2.CommitRequest(order_id="released"))
    assert raised.value.code() == grpc.StatusCode.FAILED_PRECONDITION

    await inventory.stub.Reserve(inventory_pb2.ReserveRequest(order_id="shipped", lines=[line(product, 3)]))
    for _ in range(2):
        assert (await inventory.stub.Commit(inventory_pb2.CommitRequest(order_id="shipped"))).status == COMMITTED
    level = await inventory.stub.GetStock(inventory_pb2.GetStockRequest(product_id=product))
    assert (level.on_hand, level.reserved, level.available) == (1, 0, 1)
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await inventory.stub.Release(inventory_pb2.ReleaseRequest(order_id="shipped"))
    assert raised.value.code() == grpc.StatusCode.FAILED_PRECONDITION


async def test_a_release_before_its_reservation_blocks_the_late_reservation(inventory: Inventory) -> None:
    product = await stocked(inventory, 5)
    assert (await inventory.stub.Release(inventory_pb2.ReleaseRequest(order_id="late"))).status == RELEASED
    late = await inventory.stub.Reserve(inventory_pb2.ReserveRequest(order_id="late", lines=[line(product, 5)]))
    assert late.status == RELEASED
    assert await available(inventory, product) == 5


async def test_fifty_orders_racing_for_ten_units_never_oversell(inventory: Inventory) -> None:
    product = await stocked(inventory, 10)
    results = await asyncio.gather(
        *(
            inventory.stub.Reserve(inventory_pb2.ReserveRequest(order_id=f"race-{i}", lines=[line(product, 1)]))
            for i in range(50)
        )
    )
    statuses = [r.status for r in results]
    assert statuses.count(RESERVED) == 10
    assert statuses.count(REJECTED) == 40
    level = await inventory.stub.GetStock(inventory_pb2.GetStockRequest(product_id=product))
    assert (level.on_hand, level.reserved, level.available) == (10, 10, 0)
    assert await inventory.db.fetchval("SELECT count(*) FROM reservations WHERE status = 'reserved'") == 10


async def test_stock_changes_are_published(inventory: Inventory) -> None:
    product = await stocked(inventory, 3)
    await inventory.stub.Reserve(inventory_pb2.ReserveRequest(order_id="evt", lines=[line(product, 2)]))
    events = await collect_events(
        inventory.settings.kafka_bootstrap,
        inventory.settings.topic(topic_of("inventory")),
        group=f"{inventory.settings.kafka_topic_prefix}reader",
        count=2,
    )
    changes = [unpack(e, events_pb2.StockLevelChanged) for e in events]
    assert [(c.cause, c.level.available) for c in changes] == [("set", 3), ("reserved", 1)]
    assert events[1].correlation_id == "evt"


@pytest.mark.parametrize(
    "request_",
    [
        inventory_pb2.ReserveRequest(order_id="", lines=[line(str(uuid.uuid4()), 1)]),
        inventory_pb2.ReserveRequest(order_id="bad-1", lines=[]),
        inventory_pb2.ReserveRequest(order_id="bad-2", lines=[line("not-a-uuid", 1)]),
        inventory_pb2.ReserveRequest(order_id="bad-3", lines=[line(str(uuid.uuid4()), -1)]),
    ],
)
async def test_bad_reservations_are_invalid_argument_and_write_nothing(
    inventory: Inventory, request_: inventory_pb2.ReserveRequest
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await inventory.stub.Reserve(request_)
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert raised.value.details()
    assert await inventory.db.fetchval("SELECT count(*) FROM reservations") == 0


async def test_stock_cannot_be_set_below_what_is_reserved(inventory: Inventory) -> None:
    product = await stocked(inventory, 5)
    await inventory.stub.Reserve(inventory_pb2.ReserveRequest(order_id="held", lines=[line(product, 4)]))
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await inventory.stub.SetStock(inventory_pb2.SetStockRequest(product_id=product, on_hand=3))
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert await available(inventory, product) == 1


async def test_unknown_things_are_not_found(inventory: Inventory) -> None:
    for call in (
        inventory.stub.GetStock(inventory_pb2.GetStockRequest(product_id=str(uuid.uuid4()))),
        inventory.stub.Commit(inventory_pb2.CommitRequest(order_id="never")),
        inventory.stub.GetReservation(inventory_pb2.GetReservationRequest(order_id="never")),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await call
        assert raised.value.code() == grpc.StatusCode.NOT_FOUND
