"""How far the read model trails the write side: for each order, the time from its OrderConfirmed on Kafka to the
read API (readmodels.v1.ReadModelService, whatever store is behind it) showing it confirmed.

Every POLL_SECONDS it reads the newest page of orders of each customer with an order confirmed but not yet shown,
as each of them reloading their orders page until it shows the order would; a figure is at most that much late,
and an order confirmed and then pushed off its customer's page (PAGE orders newer than it) before the read model
showed it counts as unseen. The reads are the ones its users would make, no more: the measurement must not load
the read side it measures beyond that. (A poll of one customer with every order of the load would: a document store
without a sort on an index, like FerretDB v1, reads a customer's whole history to find its newest page.)
"""

from __future__ import annotations

import asyncio
import time
from types import TracebackType

import grpc
from orders.v1 import orders_pb2
from readmodels.v1 import readmodels_pb2, readmodels_pb2_grpc

from tessera.tools.load import Outcomes

POLL_SECONDS = 0.1
PAGE = 100


class ReadModelLag:
    def __init__(self, target: str, outcomes: Outcomes) -> None:
        self._address = target
        self._outcomes = outcomes
        self.shown_at: dict[str, float] = {}
        self._task: asyncio.Task[None] | None = None
        self._began = 0.0

    async def __aenter__(self) -> ReadModelLag:
        self._began = time.monotonic()
        self._task = asyncio.create_task(self._poll())
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _poll(self) -> None:
        async with grpc.aio.insecure_channel(self._address) as channel:
            stub = readmodels_pb2_grpc.ReadModelServiceStub(channel)
            while True:
                customer_of = self._outcomes.customer_of
                customers = {customer_of[order] for order in self.awaited() if order in customer_of}
                await asyncio.gather(*(self._read(stub, customer) for customer in customers))
                await asyncio.sleep(POLL_SECONDS)

    async def _read(self, stub: readmodels_pb2_grpc.ReadModelServiceAsyncStub, customer: str) -> None:
        request = readmodels_pb2.ListCustomerOrdersRequest(customer_id=customer, page_size=PAGE)
        try:
            page = await stub.ListCustomerOrders(request, timeout=2)
        except grpc.aio.AioRpcError:
            return  # counted as late: the read side did not answer
        now = time.monotonic()
        for summary in page.orders:
            if summary.status == orders_pb2.ORDER_STATUS_CONFIRMED:
                self.shown_at.setdefault(summary.order_id, now)

    def awaited(self) -> set[str]:
        """The orders confirmed since this started that the read model has not shown yet."""
        return set(self.confirmed()) - set(self.shown_at)

    def confirmed(self) -> dict[str, float]:
        """The orders confirmed on Kafka since this started, with when."""
        return {k: v for k, v in self._outcomes.confirmed_at.items() if v >= self._began}

    async def caught_up(self, timeout: float = 10.0) -> None:
        """Waits (bounded) until the read model showed every order confirmed so far."""
        deadline = time.monotonic() + timeout
        while self.awaited() and time.monotonic() < deadline:
            await asyncio.sleep(POLL_SECONDS)

    def lags(self) -> tuple[list[float], int]:
        """(seconds from each confirmation to the read model showing it, how many it never showed)."""
        confirmed = self.confirmed()
        lags = [self.shown_at[k] - at for k, at in confirmed.items() if k in self.shown_at]
        return lags, len(confirmed) - len(lags)
