"""What the cluster tests of canary releases share: waiting for a state, Flagger's view of a canary, readers of the
API that keep every answer."""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from tessera.kit.faults import FAULT_DETAIL
from tessera.testing.cluster import Shop


async def eventually(check: Callable[[], Awaitable[Any]], timeout: float, what: str) -> Any:
    """The first true result of `check`, polled every half second; fails after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = await check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout:.0f} s")
        await asyncio.sleep(0.5)


def canary_status(shop: Shop, name: str) -> dict[str, Any]:
    """Flagger's status of a Canary (phase, canaryWeight, iterations...); empty before Flagger took it."""
    shown = json.loads(shop.kubectl("get", "canary", name, "-o", "json", check=False) or "{}")
    return dict(shown.get("status", {}))


async def phase_is(shop: Shop, name: str, phase: str) -> bool:
    return (await asyncio.to_thread(canary_status, shop, name)).get("phase") == phase


async def no_canary_pods(shop: Shop, service: str) -> bool:
    """No canary pod at all, terminating ones included: one still draining serves its share until it exits."""
    selector = f"app.kubernetes.io/name={service}"
    shown = await asyncio.to_thread(shop.kubectl, "get", "pods", "-l", selector, "-o", "name")
    return not shown.strip()  # the primary copy's pods are labelled <service>-primary


async def unflag(shop: Shop) -> None:
    """The release as the session installed it, without Flagger: each Canary deleted, Flagger reverting what it
    changed (revertOnDeletion: the Deployment's replicas, its autoscaler, its Service, the mesh's routes)."""

    async def no_canary_left() -> bool:
        # The Canaries, and what the garbage collector removes after them (Flagger's VirtualServices: one bound to
        # the edge would compete with the chart's edge route).
        canaries = await asyncio.to_thread(shop.kubectl, "get", "canaries", "-o", "name", check=False)
        routes = await asyncio.to_thread(shop.kubectl, "get", "virtualservices", "-o", "name", check=False)
        return not canaries.strip() and "-flagger" not in routes

    if await no_canary_left():
        return
    await asyncio.to_thread(shop.release.install, shop.release.values(shop.tag))
    await eventually(no_canary_left, 180, "Flagger's canaries reverted and deleted")
    await asyncio.to_thread(shop.release.wait_available)


@dataclass(frozen=True)
class Answer:
    at: float
    status: int  # 0: no answer at all
    injected: bool = False  # a failure the fault drill made on purpose (kit.faults), not a platform fault


@dataclass
class Reads:
    """Readers of one API path, each answer's time and status kept; `headers` go with every request."""

    shop: Shop
    path: str
    headers: Mapping[str, str] = field(default_factory=dict)
    # A connection per request, as from many users: kube-proxy balances connections, and one kept alive from before
    # a canary existed would never reach it. Behind the mesh's edge Envoy balances each request: keep them alive.
    fresh_connections: bool = True
    pause: float = 0.1
    answers: list[Answer] = field(default_factory=list)
    resent: Counter[str] = field(default_factory=Counter)
    unanswered: Counter[str] = field(default_factory=Counter)  # why a read got no answer at all (status 0)
    stop: asyncio.Event = field(default_factory=asyncio.Event)

    def since(self, began: float) -> list[Answer]:
        return [answer for answer in self.answers if answer.at >= began]

    async def _read(self, client: httpx.AsyncClient) -> Answer:
        for attempt in range(3):
            try:
                response = await client.get(self.path, headers=dict(self.headers))
                injected = response.status_code == 503 and FAULT_DETAIL in response.text
                return Answer(time.monotonic(), response.status_code, injected)
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.RemoteProtocolError) as exc:
                # The connection was refused, unanswered or closed before any answer: a pod leaving while
                # kube-proxy on this loaded node still routed a new connection to it (once its network is gone, the
                # SYN meets no one: a connect timeout; kube-proxy may pick the same pod again). No request reached a
                # handler. An edge proxy (Kong: retries 5, connect failures and timeouts alike) resends such an
                # idempotent GET; so does this reader, twice after a pause, and the report counts each resend.
                if attempt == 2:
                    raise
                self.resent[type(exc).__name__] += 1
                await asyncio.sleep(0.5)
        raise AssertionError("unreachable")

    async def run(self) -> None:
        limits = httpx.Limits(max_keepalive_connections=0) if self.fresh_connections else httpx.Limits()
        # A live pod's kernel answers a SYN at once, however busy the pod; 3 s without one means nobody is there.
        timeout = httpx.Timeout(10, connect=3)
        async with self.shop.api(timeout=timeout, limits=limits) as client:
            while not self.stop.is_set():
                try:
                    self.answers.append(await self._read(client))
                except httpx.HTTPError as exc:
                    self.answers.append(Answer(time.monotonic(), 0))
                    self.unanswered[type(exc).__name__] += 1
                await asyncio.sleep(self.pause)
