"""A few demo products in stock, so a new user's first `curl` finds something to order (`localstack:up`, not --empty).

They go in through the catalog's and inventory's gRPC APIs, as any client's would. Products that exist already (by
SKU) are left as they are, stock included: a later run does not undo what the user did with them.
"""

from __future__ import annotations

from dataclasses import dataclass

import grpc
from inventory.v1 import inventory_pb2, inventory_pb2_grpc

from catalog.v1 import catalog_pb2, catalog_pb2_grpc


@dataclass(frozen=True)
class DemoProduct:
    sku: str
    name: str
    price_cents: int
    stock: int


DEMO_PRODUCTS = (
    DemoProduct("DEMO-LAMP", "Desk lamp", 4500, 25),
    DemoProduct("DEMO-MUG", "Enamel mug", 1200, 100),
    DemoProduct("DEMO-NOTEBOOK", "Dotted notebook", 900, 60),
    DemoProduct("DEMO-BACKPACK", "Canvas backpack", 7900, 10),
)


async def _products_by_sku(catalog: catalog_pb2_grpc.CatalogServiceAsyncStub) -> dict[str, catalog_pb2.Product]:
    found: dict[str, catalog_pb2.Product] = {}
    token = ""
    while True:
        page = await catalog.ListProducts(
            catalog_pb2.ListProductsRequest(page_size=100, page_token=token), timeout=10, wait_for_ready=True
        )
        found.update((product.sku, product) for product in page.products)
        token = page.next_page_token
        if not token:
            return found


async def ensure_demo_products(catalog_address: str, inventory_address: str) -> list[tuple[DemoProduct, str]]:
    """Creates the demo products the catalog lacks, with their stock; returns each with its product id."""
    async with (
        grpc.aio.insecure_channel(catalog_address) as catalog_channel,
        grpc.aio.insecure_channel(inventory_address) as inventory_channel,
    ):
        catalog = catalog_pb2_grpc.CatalogServiceStub(catalog_channel)
        inventory = inventory_pb2_grpc.InventoryServiceStub(inventory_channel)
        existing = await _products_by_sku(catalog)
        ids = []
        for demo in DEMO_PRODUCTS:
            product = existing.get(demo.sku)
            if product is None:
                request = catalog_pb2.CreateProductRequest(
                    sku=demo.sku, name=demo.name, price_cents=demo.price_cents, currency="EUR"
                )
                product = await catalog.CreateProduct(request, timeout=10)
                await inventory.SetStock(
                    inventory_pb2.SetStockRequest(product_id=product.product_id, on_hand=demo.stock), timeout=10
                )
            ids.append((demo, product.product_id))
        return ids
