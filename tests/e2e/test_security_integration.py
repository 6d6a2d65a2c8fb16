"""Who may do what, through the gateway on the whole platform: tokens, per-customer orders, rate limits."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pytest
from e2e.platform_fixtures import Clients, clients, wait_for

from tessera.localinfra.issuer import DevIssuer

__all__ = ["clients"]  # the fixture, imported for pytest

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]


def anonymous(clients: Clients, **headers: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=clients.platform.http_url("gateway"), headers=headers, timeout=10)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def place(api: httpx.AsyncClient, product: str, key: str | None = None) -> dict[str, Any]:
    body = {"items": [{"product_id": product, "quantity": 1}], "card_token": "tok_visa"}
    placed = await api.post("/v1/orders", json=body, headers={"Idempotency-Key": key or str(uuid.uuid4())})
    assert placed.status_code == 202, placed.text
    answer: dict[str, Any] = placed.json()
    return answer


async def test_no_token_or_a_bad_one_is_401_with_a_challenge_and_the_probes_stay_open(
    clients: Clients, tmp_path_factory: pytest.TempPathFactory
) -> None:
    issuer = clients.platform.issuer
    stranger = DevIssuer(tmp_path_factory.mktemp("another-issuer"))  # a key the platform does not trust
    bad_tokens = {
        "not a JWT": "not-a-jwt",
        "signed by another key": stranger.customer_token("c-1"),
        "expired": issuer.customer_token("c-1", ttl_seconds=-120),
        "for another audience": issuer.customer_token("c-1", audience="someone-else"),
        "from another issuer": issuer.customer_token("c-1", issuer="https://evil.example"),
    }
    async with anonymous(clients) as api:
        for path in ("/v1/products", f"/v1/orders/{uuid.uuid4()}", "/v1/customers/c-1/orders"):
            refused = await api.get(path)
            assert refused.status_code == 401, (path, refused.text)
            assert refused.headers["www-authenticate"] == 'Bearer realm="tessera"'
            assert refused.json()["status"] == 401
        graphql = await api.post("/graphql", json={"query": "{ products { productId } }"})
        assert graphql.status_code == 401
        for why, token in bad_tokens.items():
            refused = await api.get("/v1/products", headers=bearer(token))
            assert refused.status_code == 401, why
            assert 'error="invalid_token"' in refused.headers["www-authenticate"], why
        # What an edge proxy would add after checking a token is no token: the gateway trusts only its own check.
        spoofed = {"X-Consumer-Username": "admin", "X-Consumer-Custom-ID": "c-1", "X-Authenticated-Scope": "admin"}
        assert (await api.get("/v1/products", headers=spoofed)).status_code == 401
        for open_path in ("/healthz", "/readyz", "/metrics/", "/openapi.json"):
            assert (await api.get(open_path)).status_code == 200, open_path
        # The platform's health report answers without a token too; whether it says healthy (200) or not (503)
        # depends on the moment (a consumer still joining its group), not on the caller.
        report = await api.get("/v1/platform/health")
        assert report.status_code in (200, 503) and "services" in report.json(), report.text
    async with clients.platform.api("c-1", timeout=10) as api:
        assert (await api.get("/v1/products")).status_code == 200


async def test_a_customer_sees_only_its_own_orders_and_an_admin_sees_all(clients: Clients) -> None:
    product = await clients.product(stock=5)
    alice, bob = f"alice-{uuid.uuid4().hex[:6]}", f"bob-{uuid.uuid4().hex[:6]}"
    async with (
        clients.platform.api(alice, timeout=10) as as_alice,
        clients.platform.api(bob, timeout=10) as as_bob,
        clients.platform.api(admin=True, timeout=10) as as_admin,
    ):
        order = await place(as_alice, product)
        order_id = order["order_id"]
        assert order["customer_id"] == alice
        await wait_for(lambda: as_alice.get(f"/v1/customers/{alice}/orders"), lambda r: len(r.json()) == 1, 30)

        for path in (f"/v1/orders/{order_id}", f"/v1/orders/{order_id}/history", f"/v1/customers/{alice}/orders"):
            hidden = await as_bob.get(path)
            assert hidden.status_code == 404, (path, hidden.text)  # not 403: ids cannot be probed
        # The very answer an order that does not exist gets.
        assert (await as_bob.get(f"/v1/orders/{order_id}")).json()["detail"] == f"order {order_id} not found"
        cancel = await as_bob.post(f"/v1/orders/{order_id}/cancel")
        assert cancel.status_code == 404
        query = "query($id: String!) { order(orderId: $id) { orderId } }"
        via_graphql = (await as_bob.post("/graphql", json={"query": query, "variables": {"id": order_id}})).json()
        assert via_graphql["errors"][0]["extensions"]["code"] == "NOT_FOUND"
        listing = f'{{ customerOrders(customerId: "{alice}") {{ orderId }} }}'
        listed = (await as_bob.post("/graphql", json={"query": listing})).json()
        assert listed["errors"][0]["extensions"]["code"] == "NOT_FOUND"

        assert (await as_alice.get(f"/v1/orders/{order_id}")).status_code == 200
        assert (await as_admin.get(f"/v1/orders/{order_id}")).status_code == 200
        assert (await as_admin.get(f"/v1/orders/{order_id}/history")).status_code == 200
        assert len((await as_admin.get(f"/v1/customers/{alice}/orders")).json()) == 1
        # An admin manages the catalog; placing an order is a customer's act.
        refused = await as_admin.post(
            "/v1/orders",
            json={"items": [{"product_id": product, "quantity": 1}], "card_token": "tok_visa"},
            headers={"Idempotency-Key": str(uuid.uuid4())},
        )
        assert refused.status_code == 403


async def test_idempotency_keys_are_each_customers_own(clients: Clients) -> None:
    product = await clients.product(stock=5)
    key = f"shared-{uuid.uuid4()}"
    async with clients.platform.api("key-a", timeout=10) as a, clients.platform.api("key-b", timeout=10) as b:
        first, second = await place(a, product, key), await place(b, product, key)
        assert first["order_id"] != second["order_id"]
        assert (await place(b, product, key))["order_id"] == second["order_id"]


async def test_a_caller_over_its_rate_limit_gets_429_with_retry_after_and_others_are_served(
    clients: Clients,
) -> None:
    """The test platform allows 100 requests a second per caller (FAST_SAGA): one caller sends 150 at once.

    Each on a connection of its own (httpx's pool holds 100 by default): a request is counted when it arrives, so
    all arrive within the second however slowly a loaded machine answers them. Not many more than the limit: the
    admitted ones must still be answered within the gateway's 2 s deadline by one process on a busy machine (300
    at once in one-process mode drew a 504 on CI)."""
    product = await clients.product(stock=1)
    at_once = httpx.Limits(max_connections=None)
    async with (
        clients.platform.api("greedy", timeout=30, limits=at_once) as greedy,
        clients.platform.api("calm", timeout=10) as calm,
    ):
        answers = await asyncio.gather(*(greedy.get(f"/v1/products/{product}") for _ in range(150)))
        statuses = [answer.status_code for answer in answers]
        assert set(statuses) == {200, 429}, statuses
        limited = next(answer for answer in answers if answer.status_code == 429)
        assert int(limited.headers["retry-after"]) >= 1
        assert limited.json()["error"] == "rate_limited"
        assert (await calm.get(f"/v1/products/{product}")).status_code == 200  # counted per caller


async def test_an_admin_manages_the_catalog_and_stock_over_rest_and_a_customer_cannot(clients: Clients) -> None:
    sku = f"ADM-{uuid.uuid4().hex[:8]}"
    new = {"sku": sku, "name": "Desk", "description": "oak", "price_cents": 25000, "currency": "EUR"}
    async with clients.platform.api(admin=True, timeout=10) as admin, clients.platform.api("c-adm", timeout=10) as c:
        assert (await c.post("/v1/products", json=new)).status_code == 403
        created = await admin.post("/v1/products", json=new)
        assert created.status_code == 201, created.text
        product = created.json()
        assert created.headers["location"] == f"/v1/products/{product['product_id']}"
        assert (await admin.post("/v1/products", json=new)).status_code == 409  # the SKU is taken
        invalid = await admin.post("/v1/products", json={**new, "sku": "x y", "currency": "eur"})
        assert invalid.status_code == 422
        assert "body.sku" in invalid.json()["detail"] and "body.currency" in invalid.json()["detail"]

        path = f"/v1/products/{product['product_id']}"
        assert (await c.patch(path, json={"price_cents": 1})).status_code == 403
        changed = await admin.patch(path, json={"price_cents": 19900, "expected_version": product["version"]})
        assert changed.status_code == 200 and changed.json()["price_cents"] == 19900, changed.text
        stale = await admin.patch(path, json={"name": "Old desk", "expected_version": product["version"]})
        assert stale.status_code == 409, stale.text

        assert (await c.put(f"{path}/stock", json={"on_hand": 9})).status_code == 403
        stocked = await admin.put(f"{path}/stock", json={"on_hand": 3})
        assert stocked.status_code == 200 and stocked.json()["available"] == 3, stocked.text
        assert (await admin.put(f"{path}/stock", json={"on_hand": -1})).status_code == 422

        placed = await place(c, product["product_id"])
        assert placed["total_cents"] == 19900  # the new price
        stock = await wait_for(lambda: c.get(f"{path}/stock"), lambda r: r.json()["on_hand"] == 2, 30)
        assert stock.json()["reserved"] == 0
