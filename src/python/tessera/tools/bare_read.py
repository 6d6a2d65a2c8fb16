"""The capacity benchmark's yardstick: GET /v1/products/{id} on the same hops as the gateway, with nothing else.

    python -m tessera.tools.bare_read store --port P --redis-url URL      (gRPC GetProduct, read from Redis)
    python -m tessera.tools.bare_read api --port P --store 127.0.0.1:Q     (FastAPI -> one gRPC call)

No kit: no tracing, metrics, logs, breakers, retries, deadlines or fallback cache. Uvicorn, FastAPI, the response
model and grpc.aio are the gateway's own, so the difference between the two paths is what the platform adds.
"""

from __future__ import annotations

import argparse
from typing import Any

import grpc
import redis.asyncio as redis
import uvicorn
import uvloop
from fastapi import FastAPI, HTTPException

from catalog.v1 import catalog_pb2, catalog_pb2_grpc
from tessera.gateway.views import Product

KEY_PREFIX = "bare-read:product:"


async def serve_store(port: int, redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)

    async def get_product(request: catalog_pb2.GetProductRequest, context: grpc.aio.ServicerContext) -> bytes:
        value = await client.get(KEY_PREFIX + request.product_id)
        if value is None:
            await context.abort(grpc.StatusCode.NOT_FOUND, "no such product")
        return bytes(value)  # stored serialized: passed on as it is

    server = grpc.aio.server()
    method = grpc.unary_unary_rpc_method_handler(
        get_product, request_deserializer=catalog_pb2.GetProductRequest.FromString, response_serializer=bytes
    )
    service = catalog_pb2.DESCRIPTOR.services_by_name["CatalogService"].full_name
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(service, {"GetProduct": method}),))
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    await server.wait_for_termination()


def api(store_address: str) -> FastAPI:
    app = FastAPI()
    state: dict[str, Any] = {}  # the generated stubs are typed for sync channels

    @app.get("/v1/products/{product_id}", response_model=Product)
    async def get_product(product_id: str) -> Product:
        if "stub" not in state:  # the channel belongs to the server's event loop
            state["stub"] = catalog_pb2_grpc.CatalogServiceStub(grpc.aio.insecure_channel(store_address))
        try:
            reply = await state["stub"].GetProduct(catalog_pb2.GetProductRequest(product_id=product_id))
        except grpc.aio.AioRpcError as exc:
            raise HTTPException(404 if exc.code() == grpc.StatusCode.NOT_FOUND else 502) from exc
        return Product.of(reply)

    @app.get("/readyz")
    async def ready() -> dict[str, str]:
        return {"status": "ready"}

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("role", choices=("store", "api"))
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--redis-url", default="")
    parser.add_argument("--store", default="", help="the store's gRPC target (api)")
    args = parser.parse_args()
    if args.role == "store":
        uvloop.run(serve_store(args.port, args.redis_url))  # the services' loop (kit.runtime)
    else:
        # The gateway's uvicorn settings: no access log, no lifespan; uvloop and httptools, as the gateway has them.
        uvicorn.run(api(args.store), host="127.0.0.1", port=args.port, log_config=None, access_log=False,
                    lifespan="off", http="httptools")  # fmt: skip


if __name__ == "__main__":
    main()
