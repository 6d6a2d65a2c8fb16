"""catalog.v1.CatalogService over gRPC: requests to commands, domain errors to status codes."""

from __future__ import annotations

import grpc

from catalog.v1 import catalog_pb2, catalog_pb2_grpc
from tessera.catalog import domain
from tessera.catalog.adapters.messages import product_to_proto
from tessera.catalog.service_layer import CatalogService, CreateProduct, UpdateProduct


class CatalogGrpcApi(catalog_pb2_grpc.CatalogServiceServicer):
    def __init__(self, service: CatalogService) -> None:
        self._service = service

    async def CreateProduct(  # - name fixed by the proto
        self, request: catalog_pb2.CreateProductRequest, context: grpc.aio.ServicerContext
    ) -> catalog_pb2.Product:
        product = await self._service.create_product(
            CreateProduct(
                sku=request.sku,
                name=request.name,
                description=request.description,
                price_cents=request.price_cents,
                currency=request.currency,
            )
        )
        return product_to_proto(product)

    async def GetProduct(
        self, request: catalog_pb2.GetProductRequest, context: grpc.aio.ServicerContext
    ) -> catalog_pb2.Product:
        return product_to_proto(await self._service.get_product(request.product_id))

    async def ListProducts(
        self, request: catalog_pb2.ListProductsRequest, context: grpc.aio.ServicerContext
    ) -> catalog_pb2.ListProductsResponse:
        page = await self._service.list_products(request.page_size, request.page_token)
        return catalog_pb2.ListProductsResponse(
            products=[product_to_proto(p) for p in page.products], next_page_token=page.next_page_token
        )

    async def UpdateProduct(
        self, request: catalog_pb2.UpdateProductRequest, context: grpc.aio.ServicerContext
    ) -> catalog_pb2.Product:
        changes = domain.ProductChanges(
            name=request.name if request.HasField("name") else None,
            description=request.description if request.HasField("description") else None,
            price_cents=request.price_cents if request.HasField("price_cents") else None,
            currency=request.currency if request.HasField("currency") else None,
        )
        product = await self._service.update_product(
            UpdateProduct(request.product_id, changes, request.expected_version)
        )
        return product_to_proto(product)
