"""The cost of the kit's middleware on the read path: GET /v1/products/{id} through the gateway to the catalog.

    ./pants run src/python/tessera/tools:kit-cost -- --reads 3000

Runs the whole platform twice on the same servers: with the kit's middleware (OpenTelemetry spans on REST, gRPC,
Redis and Postgres; RED metrics; request ids; circuit breakers), then with TESSERA_KIT_MIDDLEWARE=false. Each run
sends the same closed-loop reads (one client, one request at a time, after a warm-up), so the difference in
latency is the middleware's own time per request. Prints p50 / p99 / mean for both and the difference.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from tessera.localinfra import LocalInfra
from tessera.localstack.platform import Platform
from tessera.tools.load import COUNTED_NOT_LIMITED
from tessera.tools.seed import seed_products


async def _reads(platform: Platform, product_ids: list[str], count: int) -> list[float]:
    latencies = []
    async with platform.api("kit-cost", timeout=10) as api:
        for i in range(200):  # warm-up: connections, caches, the interpreter's own caches
            (await api.get(f"/v1/products/{product_ids[i % len(product_ids)]}")).raise_for_status()
        for i in range(count):
            started = time.perf_counter()
            response = await api.get(f"/v1/products/{product_ids[i % len(product_ids)]}")
            latencies.append(time.perf_counter() - started)
            response.raise_for_status()
    return latencies


def _figures(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {
        "p50": ordered[len(ordered) // 2] * 1000,
        "p99": ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))] * 1000,
        "mean": statistics.fmean(values) * 1000,
    }


async def measure(reads: int, rounds: int) -> None:
    results: dict[str, list[float]] = {"with the kit": [], "without": []}
    with tempfile.TemporaryDirectory(prefix="tessera-kit-cost-") as tmp:
        infra = LocalInfra(Path(tmp) / "infra")
        await asyncio.to_thread(infra.start)
        try:
            # Alternate the two modes, so that drift on the machine affects both alike.
            for round_number in range(rounds):
                for mode, flag in (("with the kit", "true"), ("without", "false")):
                    prefix = f"k{round_number}{flag[0]}_"
                    platform = Platform(
                        infra.endpoints,
                        Path(tmp) / f"logs-{prefix}",
                        database_prefix=prefix,
                        topic_prefix=f"{prefix}.",
                        extra_env={"TESSERA_KIT_MIDDLEWARE": flag, **COUNTED_NOT_LIMITED},
                    )
                    try:
                        await platform.start_all()
                        ids = await seed_products(
                            platform.grpc_address("catalog"), platform.grpc_address("inventory"), 20, 1000
                        )
                        results[mode] += await _reads(platform, ids, reads // rounds)
                    finally:
                        await platform.stop_all()
        finally:
            await asyncio.to_thread(infra.stop)
    with_kit, without = _figures(results["with the kit"]), _figures(results["without"])
    print(f"\nread path GET /v1/products/{{id}} (gateway -> catalog, cache hit), {reads} reads per mode:")
    for mode, figures in (("with the kit", with_kit), ("without", without)):
        print(
            f"  {mode:<13} p50 {figures['p50']:6.2f} ms   p99 {figures['p99']:6.2f} ms   mean {figures['mean']:6.2f} ms"
        )
    cost = {key: with_kit[key] - without[key] for key in with_kit}
    print(f"  cost          p50 {cost['p50']:+6.2f} ms   p99 {cost['p99']:+6.2f} ms   mean {cost['mean']:+6.2f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reads", type=int, default=3000, help="reads per mode, split over the rounds")
    parser.add_argument("--rounds", type=int, default=2, help="alternations of the two modes")
    args = parser.parse_args()
    asyncio.run(measure(args.reads, args.rounds))


if __name__ == "__main__":
    main()
