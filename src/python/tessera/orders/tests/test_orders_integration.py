"""Orders over gRPC on real Postgres and Kafka, pricing from a mock of the catalog made from its contract."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import grpc
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from orders.v1 import events_pb2, orders_pb2, orders_pb2_grpc

from catalog.v1 import catalog_pb2, catalog_pb2_grpc
from events.v1 import envelope_pb2
from tessera.kit.events import unpack
from tessera.kit.flags import configure_flags, shutdown_flags
from tessera.kit.kafka import delete_consumed_records, end_offsets, partitions_of
from tessera.kit.service import UndeclaredDependency, start
from tessera.localinfra.process import free_port
from tessera.orders import bootstrap as orders
from tessera.orders.adapters.upcasting import migrate_stored_events, plan_kafka_purge, purge_kafka_copies
from tessera.orders.config import OrdersSettings
from tessera.orders.service_layer import PLACEMENT_FLAG
from tessera.testing.events import collect_events
from tessera.testing.mocks import ServiceMock, Status
from tessera.topology import topic_of

pytestmark = pytest.mark.integration

PENDING = orders_pb2.ORDER_STATUS_PENDING
CONFIRMED = orders_pb2.ORDER_STATUS_CONFIRMED
CANCELLED = orders_pb2.ORDER_STATUS_CANCELLED


@dataclass
class World:
    orders: orders_pb2_grpc.OrdersServiceAsyncStub
    catalog: ServiceMock
    db: asyncpg.Connection
    settings: OrdersSettings
    products: dict[str, catalog_pb2.Product] = field(default_factory=dict)


@pytest.fixture
async def world(postgres_dsn: str, kafka_bootstrap: str, topic_prefix: str) -> AsyncIterator[World]:
    catalog = ServiceMock.of(catalog_pb2_grpc.CatalogServiceStub)
    async with AsyncExitStack() as stack:
        catalog_address = await stack.enter_async_context(catalog.serving())
        settings = OrdersSettings(
            postgres_dsn=postgres_dsn,
            kafka_bootstrap=kafka_bootstrap,
            kafka_topic_prefix=topic_prefix,
            grpc_port=0,
            targets={"catalog": catalog_address},
            shutdown_grace_seconds=0.2,
        )
        orders_server = (await start(orders.SPEC, settings, stack)).grpc
        orders_channel = grpc.aio.insecure_channel(f"127.0.0.1:{orders_server.port}")
        stack.push_async_callback(orders_channel.close)
        db = await asyncpg.connect(postgres_dsn)
        stack.push_async_callback(db.close)
        world = World(orders_pb2_grpc.OrdersServiceStub(orders_channel), catalog, db, settings)

        def get_product(request: catalog_pb2.GetProductRequest) -> catalog_pb2.Product:
            if request.product_id not in world.products:
                raise Status(grpc.StatusCode.NOT_FOUND, f"no product {request.product_id}")
            return world.products[request.product_id]

        catalog.on("GetProduct").returns(get_product)
        yield world
    assert catalog.violations == []


async def product(world: World, sku: str, price: int, currency: str = "EUR") -> str:
    """A product the catalog (its mock) knows, at this price."""
    product_id = str(uuid.uuid4())
    world.products[product_id] = catalog_pb2.Product(
        product_id=product_id, sku=sku, name=sku, price_cents=price, currency=currency, version=1
    )
    return product_id


def place(key: str, *items: tuple[str, int], customer: str = "c-1") -> orders_pb2.PlaceOrderRequest:
    return orders_pb2.PlaceOrderRequest(
        idempotency_key=key,
        customer_id=customer,
        items=[orders_pb2.PlaceOrderRequest.Item(product_id=p, quantity=q) for p, q in items],
        payment_method_id="pm-1",
    )


async def test_place_order_prices_from_the_catalog_and_records_the_audit_trail(world: World) -> None:
    mug, pen = await product(world, "MUG", 1250), await product(world, "PEN", 199)
    order = await world.orders.PlaceOrder(place("k-1", (mug, 2), (pen, 3)))
    assert order.status == PENDING
    assert order.total_cents == 2 * 1250 + 3 * 199
    assert order.version == 1

    confirmed = await world.orders.ConfirmOrder(
        orders_pb2.ConfirmOrderRequest(order_id=order.order_id, payment_id="pay-1")
    )
    assert (confirmed.status, confirmed.version) == (CONFIRMED, 2)
    fetched = await world.orders.GetOrder(orders_pb2.GetOrderRequest(order_id=order.order_id))
    assert fetched == confirmed

    history = await world.orders.GetOrderHistory(orders_pb2.GetOrderHistoryRequest(order_id=order.order_id))
    assert [e.event_type for e in history.events] == ["orders.v1.OrderPlaced", "orders.v1.OrderConfirmed"]
    assert [e.aggregate_version for e in history.events] == [1, 2]
    published = await collect_events(
        world.settings.kafka_bootstrap,
        world.settings.topic(topic_of("orders")),
        group=f"{world.settings.kafka_topic_prefix}reader",
        count=2,
    )
    assert list(published) == list(history.events)  # what was published is exactly what was stored
    assert unpack(published[0], events_pb2.OrderPlaced).payment_method_id == "pm-1"


async def test_the_same_key_gives_one_order_even_when_racing(world: World) -> None:
    mug = await product(world, "MUG", 1250)
    orders = await asyncio.gather(*(world.orders.PlaceOrder(place("same-key", (mug, 1))) for _ in range(8)))
    assert len({o.order_id for o in orders}) == 1
    assert await world.db.fetchval("SELECT count(DISTINCT stream_id) FROM event_store") == 1
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await world.orders.PlaceOrder(place("same-key", (mug, 5)))
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "idempotency_key" in (raised.value.details() or "")


async def test_a_key_is_the_customers_own_so_two_customers_never_collide(world: World) -> None:
    mug = await product(world, "MUG", 1250)
    first = await world.orders.PlaceOrder(place("shared-key", (mug, 1), customer="c-1"))
    second = await world.orders.PlaceOrder(place("shared-key", (mug, 1), customer="c-2"))
    assert first.order_id != second.order_id
    assert (first.customer_id, second.customer_id) == ("c-1", "c-2")
    again = await world.orders.PlaceOrder(place("shared-key", (mug, 1), customer="c-2"))
    assert again.order_id == second.order_id


async def test_acting_for_a_customer_finds_only_that_customers_orders(world: World) -> None:
    mug = await product(world, "MUG", 1250)
    order = await world.orders.PlaceOrder(place("own", (mug, 1), customer="c-1"))
    mine = await world.orders.GetOrder(orders_pb2.GetOrderRequest(order_id=order.order_id, customer_id="c-1"))
    assert mine.order_id == order.order_id
    for call in (
        world.orders.GetOrder(orders_pb2.GetOrderRequest(order_id=order.order_id, customer_id="c-2")),
        world.orders.GetOrderHistory(orders_pb2.GetOrderHistoryRequest(order_id=order.order_id, customer_id="c-2")),
        world.orders.CancelOrder(orders_pb2.CancelOrderRequest(order_id=order.order_id, customer_id="c-2")),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await call
        assert raised.value.code() == grpc.StatusCode.NOT_FOUND
        assert raised.value.details() == f"order {order.order_id} not found"  # as for an id no one issued
    still = await world.orders.GetOrder(orders_pb2.GetOrderRequest(order_id=order.order_id))
    assert (still.status, still.version) == (PENDING, 1)  # the refused cancel changed nothing


async def test_confirm_and_cancel_racing_one_wins_and_the_stream_stays_consistent(world: World) -> None:
    mug = await product(world, "MUG", 1250)
    order = await world.orders.PlaceOrder(place("race", (mug, 1)))
    results = await asyncio.gather(
        world.orders.ConfirmOrder(orders_pb2.ConfirmOrderRequest(order_id=order.order_id, payment_id="pay")),
        world.orders.CancelOrder(orders_pb2.CancelOrderRequest(order_id=order.order_id, reason="changed my mind")),
        return_exceptions=True,
    )
    winners = [r for r in results if isinstance(r, orders_pb2.Order)]
    losers = [r for r in results if isinstance(r, grpc.aio.AioRpcError)]
    assert len(winners) == 1 and winners[0].status in (CONFIRMED, CANCELLED)
    assert len(losers) == 1 and losers[0].code() == grpc.StatusCode.FAILED_PRECONDITION
    versions = await world.db.fetch(
        "SELECT version FROM event_store WHERE stream_id = $1 ORDER BY version", order.order_id
    )
    assert [r["version"] for r in versions] == [1, 2]


async def test_bad_orders_are_refused_and_write_nothing(world: World) -> None:
    mug, dollars = await product(world, "MUG", 1250), await product(world, "USD-THING", 100, "USD")
    for request_ in (
        place("k-a"),  # no items
        place("k-b", (mug, 0)),
        place("k-c", ("00000000-0000-0000-0000-000000000000", 1)),  # unknown product
        place("k-d", (mug, 1), (dollars, 1)),  # two currencies
        place("", (mug, 1)),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await world.orders.PlaceOrder(request_)
        assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT, request_
        assert raised.value.details()
    assert await world.db.fetchval("SELECT count(*) FROM event_store") == 0
    assert await world.db.fetchval("SELECT count(*) FROM order_idempotency_keys") == 0
    assert await world.db.fetchval("SELECT count(*) FROM outbox") == 0
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await world.orders.GetOrder(orders_pb2.GetOrderRequest(order_id="no-such-order"))
    assert raised.value.code() == grpc.StatusCode.NOT_FOUND


async def test_a_call_the_registry_does_not_declare_stops_the_start(
    postgres_dsn: str, kafka_bootstrap: str, topic_prefix: str
) -> None:
    """Orders' environment without catalog's address (as if the registry lacked `calls: [catalog]`): the start
    fails at once, naming the missing line, instead of calling a default address at the first order."""
    settings = OrdersSettings(
        postgres_dsn=postgres_dsn, kafka_bootstrap=kafka_bootstrap, kafka_topic_prefix=topic_prefix, grpc_port=0
    )
    async with AsyncExitStack() as stack:
        with pytest.raises(
            UndeclaredDependency, match=r"orders calls 'catalog'.* services\.orders\.calls: add it there"
        ):
            await start(orders.SPEC, settings, stack)


async def test_catalog_down_is_unavailable(postgres_dsn: str, kafka_bootstrap: str, topic_prefix: str) -> None:
    settings = OrdersSettings(
        postgres_dsn=postgres_dsn,
        kafka_bootstrap=kafka_bootstrap,
        kafka_topic_prefix=topic_prefix,
        grpc_port=0,
        targets={"catalog": f"127.0.0.1:{free_port()}"},  # nothing listens there
        call_timeout_seconds=0.5,
    )
    async with AsyncExitStack() as stack:
        server = (await start(orders.SPEC, settings, stack)).grpc
        async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            stub = orders_pb2_grpc.OrdersServiceStub(channel)
            with pytest.raises(grpc.aio.AioRpcError) as raised:
                await stub.PlaceOrder(place("k", ("00000000-0000-0000-0000-000000000001", 1)))
    assert raised.value.code() == grpc.StatusCode.UNAVAILABLE


def _placement_flag(default: str, *, enabled_for: list[str] | None = None) -> str:
    """A flagd flag file: order placement on or off, optionally on for some customers whatever the default."""
    flag: dict[str, object] = {"state": "ENABLED", "variants": {"on": True, "off": False}, "defaultVariant": default}
    if enabled_for:
        flag["targeting"] = {"if": [{"in": [{"var": "targetingKey"}, enabled_for]}, "on", default]}
    return json.dumps({"flags": {PLACEMENT_FLAG: flag}})


async def test_placement_flag_switches_orders_off_and_on_without_a_restart(world: World, tmp_path: Path) -> None:
    flag_file = tmp_path / "flags.json"
    flag_file.write_text(_placement_flag("on"))
    configure_flags(str(flag_file), poll_ms=100)
    try:
        mug = await product(world, "MUG", 1250)
        assert (await world.orders.PlaceOrder(place("f-1", (mug, 1)))).status == PENDING

        flag_file.write_text(_placement_flag("off", enabled_for=["beta-customer"]))
        refused_request = place("f-2", (mug, 1))
        refused = await _until_refused(world, refused_request)
        assert refused.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert PLACEMENT_FLAG in (refused.details() or "")
        written = "SELECT count(*) FROM order_idempotency_keys WHERE idempotency_key = $1"
        assert await world.db.fetchval(written, refused_request.idempotency_key) == 0
        # Targeted: the beta customer still gets through; a retry of an order placed before the switch too.
        assert (await world.orders.PlaceOrder(place("f-3", (mug, 1), customer="beta-customer"))).status == PENDING
        assert (await world.orders.PlaceOrder(place("f-1", (mug, 1)))).status == PENDING

        flag_file.write_text(_placement_flag("on"))
        deadline = asyncio.get_running_loop().time() + 5
        while True:
            try:
                assert (await world.orders.PlaceOrder(refused_request)).status == PENDING
                break
            except grpc.aio.AioRpcError:
                assert asyncio.get_running_loop().time() < deadline, "the flag file change was not picked up"
                await asyncio.sleep(0.1)
    finally:
        await shutdown_flags()


async def _until_refused(world: World, request: orders_pb2.PlaceOrderRequest) -> grpc.aio.AioRpcError:
    """Retries one request (same key, so at most one order) until the service refuses it; fails after 5 s."""
    deadline = asyncio.get_running_loop().time() + 5
    while asyncio.get_running_loop().time() < deadline:
        try:
            await world.orders.PlaceOrder(request)
        except grpc.aio.AioRpcError as exc:
            return exc
        # Accepted before the change was seen: use a new key so the next try is a new order.
        request.idempotency_key += "x"
        await asyncio.sleep(0.1)
    raise AssertionError("the flag file change was not picked up within 5 s")


async def test_stored_v1_events_lose_their_card_token_and_the_history_still_reads(world: World) -> None:
    mug = await product(world, "MUG", 1250)
    order = await world.orders.PlaceOrder(place("v1", (mug, 1)))
    # Make the stored copies what version 1 wrote: the token in OrderPlaced's field 6.
    stored = await world.db.fetchval("SELECT envelope FROM event_store WHERE stream_id = $1", order.order_id)
    v1 = envelope_pb2.EventEnvelope.FromString(stored)
    v1.payload.value += bytes([6 << 3 | 2, 12]) + b"tok_v1_card0"
    await world.db.execute(
        "UPDATE event_store SET envelope = $1 WHERE stream_id = $2", v1.SerializeToString(), order.order_id
    )
    await world.db.execute(
        "UPDATE outbox SET payload = $1 WHERE event_id = $2::uuid", v1.SerializeToString(), v1.event_id
    )
    scan = "SELECT count(*) FROM {} WHERE position('tok_v1_card0'::bytea in {}) > 0"
    assert await world.db.fetchval(scan.format("event_store", "envelope")) == 1

    pool = await asyncpg.create_pool(world.settings.postgres_dsn, min_size=1, max_size=1)
    try:
        assert await migrate_stored_events(pool) == {"event_store": 1, "outbox": 1}
        assert await migrate_stored_events(pool) == {"event_store": 0, "outbox": 0}  # nothing left
    finally:
        await pool.close()
    assert await world.db.fetchval(scan.format("event_store", "envelope")) == 0
    assert await world.db.fetchval(scan.format("outbox", "payload")) == 0
    history = await world.orders.GetOrderHistory(orders_pb2.GetOrderHistoryRequest(order_id=order.order_id))
    assert unpack(history.events[0], events_pb2.OrderPlaced).order_id == order.order_id
    assert (await world.orders.GetOrder(orders_pb2.GetOrderRequest(order_id=order.order_id))).total_cents == 1250


async def test_kafka_copies_of_migrated_events_go_once_every_reader_has_read_them(world: World) -> None:
    mug = await product(world, "MUG", 1250)
    await world.orders.PlaceOrder(place("kafka-copy", (mug, 1)))
    bootstrap, topic = world.settings.kafka_bootstrap, world.settings.topic(topic_of("orders"))
    group = f"{world.settings.kafka_topic_prefix}slow-reader"
    await collect_events(bootstrap, topic, group=group, count=1)  # a reader that has read the first event
    pool = await asyncpg.create_pool(world.settings.postgres_dsn, min_size=1, max_size=1)
    try:
        await world.orders.PlaceOrder(place("kafka-copy-2", (mug, 1)))
        until = await _published(bootstrap, topic, 2)
        assert until == await plan_kafka_purge(pool, bootstrap, topic)
        deleted = await delete_consumed_records(bootstrap, topic, until)
        assert deleted != until  # the slow reader has not read the second event: its partition keeps it
        await collect_events(bootstrap, topic, group=group, count=1)  # now it has
        await asyncio.wait_for(purge_kafka_copies(pool, bootstrap, every_seconds=0.2), 30)
        pending = await world.db.fetchval("SELECT count(*) FROM order_kafka_purges WHERE done_at IS NULL")
        assert pending == 0
    finally:
        await pool.close()
    assert await _first_offsets(bootstrap, topic) == until  # nothing older is left on the topic


async def _published(bootstrap: str, topic: str, count: int) -> dict[int, int]:
    """The topic's end offsets once `count` records are on it (the relay publishes a moment after the commit)."""
    async with asyncio.timeout(30):
        while sum((ends := await end_offsets(bootstrap, topic)).values()) < count:
            await asyncio.sleep(0.1)
    return ends


async def _first_offsets(bootstrap: str, topic: str) -> dict[int, int]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p) for p in await partitions_of(bootstrap, topic)]
        return {tp.partition: offset for tp, offset in (await consumer.beginning_offsets(partitions)).items()}
    finally:
        await consumer.stop()
