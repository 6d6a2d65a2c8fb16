"""Adds products with stock to a running platform: on the local stack through the services' gRPC APIs, on the
local cluster through the API at its edge as an admin (in its mesh, the services admit only their callers).

./pants run src/python/tessera/tools:seed -- --products 5      (on the stack of the README's first command)
./pants run src/python/tessera/tools:seed -- --cluster         (on the local Kubernetes: localcluster:up)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import uuid
from pathlib import Path

import grpc
import httpx
from inventory.v1 import inventory_pb2, inventory_pb2_grpc

from catalog.v1 import catalog_pb2, catalog_pb2_grpc
from tessera.localinfra.issuer import DevIssuer


async def seed_products(catalog_address: str, inventory_address: str, count: int, stock: int) -> list[str]:
    """Creates `count` products (EUR, 1.00 upwards) with `stock` units each; returns their ids."""
    batch = uuid.uuid4().hex[:6]
    async with (
        grpc.aio.insecure_channel(catalog_address) as catalog_channel,
        grpc.aio.insecure_channel(inventory_address) as inventory_channel,
    ):
        catalog = catalog_pb2_grpc.CatalogServiceStub(catalog_channel)
        inventory = inventory_pb2_grpc.InventoryServiceStub(inventory_channel)
        ids = []
        for i in range(count):
            product = await catalog.CreateProduct(
                catalog_pb2.CreateProductRequest(
                    sku=f"DEMO-{batch}-{i}", name=f"Demo item {i}", price_cents=100 * (i + 1), currency="EUR"
                ),
                timeout=10,
                wait_for_ready=True,
            )
            await inventory.SetStock(
                inventory_pb2.SetStockRequest(product_id=product.product_id, on_hand=stock), timeout=10
            )
            ids.append(product.product_id)
        return ids


async def seed_through_api(gateway: str, admin_token: str, count: int, stock: int) -> list[str]:
    """As seed_products, through the gateway's admin REST API."""
    batch = uuid.uuid4().hex[:6]
    headers = {"Authorization": f"Bearer {admin_token}"}
    ids = []
    async with httpx.AsyncClient(base_url=gateway, headers=headers, timeout=10) as api:
        for i in range(count):
            body = {"sku": f"DEMO-{batch}-{i}", "name": f"Demo item {i}", "price_cents": 100 * (i + 1),
                    "currency": "EUR"}  # fmt: skip
            created = (await api.post("/v1/products", json=body)).raise_for_status().json()
            product_id = str(created["product_id"])
            (await api.put(f"/v1/products/{product_id}/stock", json={"on_hand": stock})).raise_for_status()
            ids.append(product_id)
    return ids


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--products", type=int, default=5)
    parser.add_argument("--stock", type=int, default=100)
    parser.add_argument("--state-dir", type=Path, default=Path(".tessera"), help="the local stack's state directory")
    parser.add_argument("--cluster", action="store_true", help="seed the local cluster (its endpoints.json)")
    args = parser.parse_args()
    if args.cluster:
        gateway = json.loads((args.state_dir / "cluster" / "endpoints.json").read_text())["gateway"]
        admin = DevIssuer(args.state_dir / "cluster" / "issuer").admin_token()
        ids = asyncio.run(seed_through_api(gateway, admin, args.products, args.stock))
    else:
        ports = json.loads((args.state_dir / "ports.json").read_text())
        catalog, inventory = f"127.0.0.1:{ports['catalog_grpc']}", f"127.0.0.1:{ports['inventory_grpc']}"
        gateway = f"http://127.0.0.1:{ports['gateway_http']}"
        ids = asyncio.run(seed_products(catalog, inventory, args.products, args.stock))
    print(f"gateway: {gateway}")
    for product_id in ids:
        print(f"product {product_id}  stock {args.stock}")


if __name__ == "__main__":
    main()
