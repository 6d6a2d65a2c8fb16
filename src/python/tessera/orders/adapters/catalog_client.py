"""Prices order lines by asking the catalog over gRPC."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import grpc

from catalog.v1 import catalog_pb2, catalog_pb2_grpc
from tessera.orders import domain


class CatalogPricer:
    def __init__(self, channel: grpc.aio.Channel) -> None:
        self._stub = catalog_pb2_grpc.CatalogServiceStub(channel)

    async def prices(self, product_ids: Sequence[str]) -> dict[str, tuple[int, str]]:
        results = await asyncio.gather(*(self._price(pid) for pid in product_ids), return_exceptions=True)
        prices: dict[str, tuple[int, str]] = {}
        unknown: dict[str, str] = {}
        for index, (product_id, result) in enumerate(zip(product_ids, results, strict=True)):
            if isinstance(result, domain.InvalidRequest):
                unknown[f"items[{index}].product_id"] = f"no product {product_id} in the catalog"
            elif isinstance(result, BaseException):
                raise result
            else:
                prices[product_id] = result
        if unknown:
            raise domain.InvalidRequest(unknown)
        return prices

    async def _price(self, product_id: str) -> tuple[int, str]:
        try:
            product = await self._stub.GetProduct(catalog_pb2.GetProductRequest(product_id=product_id))
        except grpc.aio.AioRpcError as exc:
            if exc.code() in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT):
                raise domain.InvalidRequest({"product_id": exc.details() or "unknown"}) from None
            raise domain.DependencyUnavailable(f"the catalog did not answer: {exc.code().name}") from exc
        return product.price_cents, product.currency
