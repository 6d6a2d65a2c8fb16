"""Client apps' view: the gateway's REST and GraphQL APIs over HTTP, on the whole platform of processes."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from e2e.platform_fixtures import Clients, clients, wait_for

__all__ = ["clients"]  # the fixture, imported for pytest

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]


def http(clients: Clients, customer: str = "c-e2e") -> httpx.AsyncClient:
    """The gateway's API, with a token of the platform's issuer acting for `customer`."""
    return clients.platform.api(customer, timeout=10)


async def event_count(clients: Clients) -> int:
    conn = await clients.db("orders")
    try:
        return int(await conn.fetchval("SELECT count(*) FROM event_store"))
    finally:
        await conn.close()


async def test_rest_place_an_order_and_follow_it_to_confirmed(clients: Clients) -> None:
    product = await clients.product(price_cents=450, stock=3)
    customer = f"rest-{uuid.uuid4().hex[:6]}"
    body = {"items": [{"product_id": product, "quantity": 2}], "card_token": "tok_visa"}
    async with http(clients, customer) as api:
        listed = await api.get("/v1/products", params={"page_size": 100})
        assert listed.status_code == 200
        placed = await api.post("/v1/orders", json=body, headers={"Idempotency-Key": "rest-1"})
        assert placed.status_code == 202, placed.text
        order_id = placed.json()["order_id"]
        assert placed.json()["customer_id"] == customer  # the token's
        assert placed.headers["location"] == f"/v1/orders/{order_id}"
        again = await api.post("/v1/orders", json=body, headers={"Idempotency-Key": "rest-1"})
        assert again.json()["order_id"] == order_id

        order = await wait_for(lambda: api.get(f"/v1/orders/{order_id}"), lambda r: r.json()["status"] != "pending", 30)
        assert order.json()["status"] == "confirmed"
        assert order.json()["total_cents"] == 900
        history = (await api.get(f"/v1/orders/{order_id}/history")).json()
        assert [e["event_type"] for e in history] == ["orders.v1.OrderPlaced", "orders.v1.OrderConfirmed"]
        assert "tok_visa" not in str(history)
        mine = await wait_for(lambda: api.get(f"/v1/customers/{customer}/orders"), lambda r: len(r.json()) == 1, 30)
        assert mine.json()[0]["order_id"] == order_id
        assert (await api.get("/readyz")).json()["status"] == "ready"
        openapi = (await api.get("/openapi.json")).json()
        assert "/v1/orders" in openapi["paths"]


async def graphql(api: httpx.AsyncClient, query: str, **variables: Any) -> dict[str, Any]:
    response = await api.post("/graphql", json={"query": query, "variables": variables})
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


PLACE = """mutation Place($key: String!, $product: String!, $quantity: Int!, $card: String!) {
  placeOrder(idempotencyKey: $key, items: [{productId: $product, quantity: $quantity}], cardToken: $card) {
    orderId customerId status totalCents
  }
}"""
ORDER = "query Order($id: String!) { order(orderId: $id) { orderId status rejectReason } }"


async def test_graphql_place_an_order_and_follow_it_to_confirmed(clients: Clients) -> None:
    product = await clients.product(price_cents=300, stock=3)
    async with http(clients, "gql") as api:
        placed = await graphql(api, PLACE, key="gql-1", product=product, quantity=1, card="tok_visa")
        assert "errors" not in placed, placed
        order_id = placed["data"]["placeOrder"]["orderId"]
        assert placed["data"]["placeOrder"]["customerId"] == "gql"
        assert placed["data"]["placeOrder"]["totalCents"] == 300

        async def fetch() -> dict[str, Any]:
            return await graphql(api, ORDER, id=order_id)

        final = await wait_for(fetch, lambda r: r["data"]["order"]["status"] != "pending", 30)
        assert final["data"]["order"]["status"] == "confirmed"


async def test_rest_bad_input_is_a_4xx_with_a_message_and_writes_nothing(clients: Clients) -> None:
    product = await clients.product(stock=3)
    before = await event_count(clients)
    good = {"items": [{"product_id": product, "quantity": 1}], "card_token": "tok_visa"}
    cases = [
        (good, {}, 422, "idempotency-key"),  # no Idempotency-Key header
        ({**good, "items": []}, {"Idempotency-Key": "b1"}, 422, "items"),
        ({**good, "items": [{"product_id": product, "quantity": 0}]}, {"Idempotency-Key": "b2"}, 422, "quantity"),
        ({**good, "customer_id": "someone-else"}, {"Idempotency-Key": "b3"}, 422, "customer_id"),  # the token's
        ({**good, "card_token": "x" * 129}, {"Idempotency-Key": "b6"}, 422, "card_token"),
        (good, {"Idempotency-Key": "k" * 129}, 422, "idempotency-key"),
        (
            {**good, "items": [{"product_id": str(uuid.uuid4()), "quantity": 1}]},
            {"Idempotency-Key": "b4"},
            400,
            "no product",
        ),
    ]
    async with http(clients) as api:
        for body, headers, status, words in cases:
            response = await api.post("/v1/orders", json=body, headers=headers)
            assert response.status_code == status, (body, response.text)
            problem = response.json()
            assert problem["status"] == status and problem["request_id"] == response.headers["x-request-id"]
            assert words in problem["detail"].lower(), problem
        missing = await api.get(f"/v1/orders/{uuid.uuid4()}")
        assert missing.status_code == 404 and missing.json()["detail"]
        # Ids no service issued, a NUL among them, are unknown orders, and nothing of the driver leaks out.
        for odd in ("%00", "not-an-id", "%00/history"):
            answer = await api.get(f"/v1/orders/{odd}")
            assert answer.status_code == 404, (odd, answer.text)
            assert answer.json()["status"] == 404 and "asyncpg" not in answer.text.lower(), answer.text
        not_json = await api.post("/v1/orders", content=b"{", headers={"Idempotency-Key": "b5"})
        assert not_json.status_code == 422 and not_json.json()["error"] == "invalid_request"
        not_utf8 = await api.post("/v1/orders", content=b'{"items": "\xff"}', headers={"Idempotency-Key": "b7"})
        assert not_utf8.status_code == 422 and not_utf8.json()["status"] == 422, not_utf8.text
        no_route = await api.get("/v1/no-such-thing")
        assert no_route.status_code == 404 and no_route.json()["error"] == "not_found"  # a problem body too
    assert await event_count(clients) == before


async def test_graphql_bad_input_is_an_error_with_a_message_and_writes_nothing(clients: Clients) -> None:
    product = await clients.product(stock=3)
    before = await event_count(clients)
    async with http(clients) as api:
        for variables, words in [
            ({"key": "g1", "product": product, "quantity": 0, "card": "tok"}, "quantity"),
            ({"key": "", "product": product, "quantity": 1, "card": "tok"}, "idempotencykey"),
            ({"key": "g3", "product": str(uuid.uuid4()), "quantity": 1, "card": "tok"}, "no product"),
        ]:
            result = await graphql(api, PLACE, **variables)
            assert result.get("data") is None, result
            (error,) = result["errors"]
            assert words in error["message"].lower(), error
        unknown = await graphql(api, ORDER, id="no-such-order")
        assert unknown["errors"][0]["extensions"]["code"] == "NOT_FOUND"
        wrong_type = await graphql(api, PLACE, key="g4", product=product, quantity="two", card="t")
        assert wrong_type["errors"]
    assert await event_count(clients) == before
