"""What the platform costs and how far it goes on this machine, in one run.

    ./pants run src/python/tessera/tools:capacity                 (about 12 minutes)
    ./pants run src/python/tessera/tools:capacity -- --smoke      (about 2 minutes; CI runs it)

It starts the local stack (PostgreSQL, Redis, Kafka, Jaeger, Prometheus and every service, as `localstack:up`
does), seeds products, and measures, with orders placed by a crowd of customers (Plan.customers, each its own
token):
1. idle: the CPU each process burns with no traffic;
2. CPU-ms per order: N orders at a low fixed rate, placement to confirmation, the CPU of each process from
   /proc over that window minus its idle CPU, divided by the orders;
3. the highest order rate sustained for a step (60 s) with placement -> confirmed p99 under 500 ms and nothing
   lost, stepping the rate up until a step fails; at each step, how long after an order's confirmation the read
   model shows it to the order's customer (tools/readmodel_lag.py);
4. reads (GET /v1/products/{id}, a cache hit): closed-loop throughput and open-loop p50/p99 at fixed rates,
   through the gateway and through a bare handler on the same hops (tools/bare_read.py), alternated in one run;
5. each process's memory at idle and its peak under load.
Every figure is printed, and written as JSON with --json.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import functools
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import httpx
import redis.asyncio as redis

from catalog.v1 import catalog_pb2, catalog_pb2_grpc
from tessera.localinfra import install
from tessera.localinfra.process import free_port, port_open
from tessera.localstack.stack import LocalStack
from tessera.tools import capacity_targets, processes
from tessera.tools.bare_read import KEY_PREFIX
from tessera.tools.load import COUNTED_NOT_LIMITED, Outcomes, Results, place_order, schedule
from tessera.tools.rawhttp import HttpError, KeepAliveGetter
from tessera.tools.readmodel_lag import ReadModelLag
from tessera.tools.seed import seed_products

OBSERVABILITY = ("jaeger", "prometheus")
CONFIRM_P99_LIMIT = 0.5  # seconds, placement -> confirmed


@dataclass(frozen=True)
class Plan:
    idle_seconds: float = 30
    cpu_orders: int = 120
    cpu_order_rate: float = 4
    order_rates: tuple[float, ...] = (10, 20, 30, 40, 50, 60, 70, 80, 100)
    step_seconds: float = 60
    read_seconds: float = 10
    read_connections: int = 8
    read_rates: tuple[float, ...] = (100, 300)
    products: int = 20
    customers: int = 500  # the load's orders come from this many customers, each reading its own (readmodel_lag)
    profile_rate: float = 20
    warmup_orders: int = 300
    trace_sample_ratio: float = 1.0  # TESSERA_TRACE_SAMPLE_RATIO of every service (the chart's tracing.sampleRatio)


SMOKE = Plan(
    idle_seconds=5, cpu_orders=20, cpu_order_rate=4, order_rates=(5, 10), step_seconds=10, read_seconds=3,
    read_rates=(50,), products=5, customers=20, warmup_orders=20,
)  # fmt: skip


CUSTOMER_PREFIX = "capacity-"  # the load's customers: capacity-0, capacity-1, ...


def _say(line: str) -> None:
    print(line, flush=True)


def percentile(values: list[float], p: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 2)


class Meter:
    """CPU seconds of the stack's processes between two moments, and their memory."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.pids = pids
        self.peak_rss: dict[str, int] = {}

    def cpu(self) -> tuple[float, dict[str, float]]:
        return time.monotonic(), processes.cpu_seconds(self.pids)

    def rss(self) -> dict[str, int]:
        now = processes.rss_bytes(self.pids)
        for name, value in now.items():
            self.peak_rss[name] = max(self.peak_rss.get(name, 0), value)
        return now

    @contextlib.asynccontextmanager
    async def sampling_memory(self, every: float = 1.0) -> AsyncIterator[None]:
        async def sample() -> None:
            while True:
                await asyncio.to_thread(self.rss)
                await asyncio.sleep(every)

        task = asyncio.create_task(sample())
        try:
            yield
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


def cpu_delta(before: tuple[float, dict[str, float]], after: tuple[float, dict[str, float]]) -> tuple[float, dict]:
    return after[0] - before[0], {name: after[1][name] - before[1].get(name, 0.0) for name in after[1]}


@dataclass
class BareRead:
    """The bare handler's two processes (tools/bare_read.py)."""

    redis_url: str
    log_dir: Path
    store_port: int = field(default_factory=free_port)
    api_port: int = field(default_factory=free_port)
    procs: list[asyncio.subprocess.Process] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    async def start(self, product_ids: list[str], catalog_address: str) -> None:
        # The same products, as the catalog serves them, where the bare store reads them.
        client = redis.Redis.from_url(self.redis_url)
        async with grpc.aio.insecure_channel(catalog_address) as channel:
            catalog = catalog_pb2_grpc.CatalogServiceStub(channel)
            for product_id in product_ids:
                product = await catalog.GetProduct(catalog_pb2.GetProductRequest(product_id=product_id), timeout=10)
                await client.set(KEY_PREFIX + product_id, product.SerializeToString())
        await client.aclose()
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
        for role, args in (
            ("store", ["--redis-url", self.redis_url, "--port", str(self.store_port)]),
            ("api", ["--store", f"127.0.0.1:{self.store_port}", "--port", str(self.api_port)]),
        ):
            with (self.log_dir / f"bare-{role}.log").open("ab") as log:
                self.procs.append(
                    await asyncio.create_subprocess_exec(
                        sys.executable, "-m", "tessera.tools.bare_read", role, *args,
                        env=env, stdout=log, stderr=subprocess.STDOUT,
                    )  # fmt: skip
                )
        deadline = time.monotonic() + 30
        while not (port_open(self.store_port) and port_open(self.api_port)):
            if any(p.returncode is not None for p in self.procs) or time.monotonic() > deadline:
                raise RuntimeError(f"the bare handler did not start; see {self.log_dir}/bare-*.log")
            await asyncio.sleep(0.1)

    def pids(self) -> dict[str, int]:
        return {f"bare-{role}": p.pid for role, p in zip(("store", "api"), self.procs, strict=False)}

    async def stop(self) -> None:
        for proc in self.procs:
            if proc.returncode is None:
                proc.terminate()
        for proc in self.procs:
            try:
                await asyncio.wait_for(proc.wait(), 10)
            except TimeoutError:
                proc.kill()
                await proc.wait()


class Capacity:
    def __init__(self, stack: LocalStack, plan: Plan, report: Callable[[str], None] = _say) -> None:
        self.stack = stack
        self.plan = plan
        self.say = report
        self.meter = Meter(stack.pids())
        self.figures: dict[str, Any] = {"plan": plan.__dict__}
        self.idle_cores: dict[str, float] = {}
        # The readers' token (a real one: verifying it is part of a read's cost); the bare handler ignores it.
        self.reader = stack.platform.auth_headers("capacity-reader")
        self.customers = [stack.platform.auth_headers(f"{CUSTOMER_PREFIX}{n}") for n in range(plan.customers)]

    async def place(
        self, api: httpx.AsyncClient, ids: list[str], results: Results, outcomes: Outcomes, wait: float
    ) -> None:
        """One order of one product, by one of the load's customers, both at random."""
        await place_order(api, random.choice(ids), results, outcomes, wait, random.choice(self.customers))

    # 1. Idle
    async def idle(self) -> None:
        self.say(f"idle: {self.plan.idle_seconds:g} s with no traffic ...")
        before = self.meter.cpu()
        await asyncio.sleep(self.plan.idle_seconds)
        seconds, used = cpu_delta(before, self.meter.cpu())
        self.idle_cores = {name: cpu / seconds for name, cpu in used.items()}
        self.figures["idle_cores"] = {k: round(v, 4) for k, v in self.idle_cores.items()}
        self.figures["idle_cores_total"] = round(sum(self.idle_cores.values()), 4)
        self.figures["idle_rss_mib"] = {k: round(v / 2**20, 1) for k, v in self.meter.rss().items()}

    # 2. CPU per order
    async def cpu_per_order(self, api: httpx.AsyncClient, ids: list[str], outcomes: Outcomes) -> None:
        plan = self.plan
        self.say(f"CPU per order: {plan.cpu_orders} orders at {plan.cpu_order_rate:g}/s ...")
        results = Results()
        before = self.meter.cpu()
        tasks = await schedule(
            plan.cpu_order_rate,
            plan.cpu_orders / plan.cpu_order_rate,
            lambda: self.place(api, ids, results, outcomes, 60.0),
        )
        await asyncio.gather(*tasks)
        await asyncio.sleep(2)  # the projections and outbox relays finish after the confirmation
        seconds, used = cpu_delta(before, self.meter.cpu())
        confirmed = len(results.confirmations)
        if not confirmed:
            raise RuntimeError("no order was confirmed; see the services' logs")
        per_order = {
            name: max(0.0, (cpu - self.idle_cores.get(name, 0.0) * seconds)) * 1000 / confirmed
            for name, cpu in used.items()
        }
        self.figures["cpu_ms_per_order"] = {k: round(v, 2) for k, v in sorted(per_order.items(), key=lambda i: -i[1])}
        platform = sum(v for k, v in per_order.items() if k not in OBSERVABILITY)
        self.figures["cpu_ms_per_order_platform"] = round(platform, 1)
        self.figures["cpu_ms_per_order_total"] = round(sum(per_order.values()), 1)
        self.figures["cpu_orders"] = {
            "confirmed": confirmed,
            "lost": results.order_errors + results.rejected,
            "confirm_p50_ms": _ms(percentile(results.confirmations, 50)),
        }

    # 3. Highest sustained order rate
    async def order_rates(self, api: httpx.AsyncClient, ids: list[str], outcomes: Outcomes) -> None:
        steps, sustained = [], 0.0
        async with self.meter.sampling_memory():
            for rate in self.plan.order_rates:
                self.say(f"orders: {rate:g}/s for {self.plan.step_seconds:g} s ...")
                results = Results()
                before = self.meter.cpu()
                began = time.monotonic()
                place = functools.partial(self.place, api, ids, results, outcomes, 30.0)
                readmodels = self.stack.platform.grpc_address("projections")
                async with ReadModelLag(readmodels, outcomes) as projection:
                    tasks = await schedule(rate, self.plan.step_seconds, place)
                    sent_in = time.monotonic() - began
                    await asyncio.gather(*tasks)
                    seconds, used = cpu_delta(before, self.meter.cpu())
                    await projection.caught_up()
                lags, unseen = projection.lags()
                sent = len(tasks)
                p99 = percentile(results.confirmations, 99)
                lost = sent - len(results.confirmations)
                on_schedule = sent_in <= self.plan.step_seconds * 1.05  # the load generator kept up
                passed = lost == 0 and p99 is not None and p99 < CONFIRM_P99_LIMIT and on_schedule
                steps.append(
                    {
                        "rate": rate,
                        "sent": sent,
                        "confirmed": len(results.confirmations),
                        "lost": lost,
                        "confirm_p50_ms": _ms(percentile(results.confirmations, 50)),
                        "confirm_p99_ms": _ms(p99),
                        "placement_p99_ms": _ms(percentile(results.placements, 99)),
                        "platform_cores": round(sum(used.values()) / seconds, 2),
                        # confirmed -> shown confirmed by the read API (tools/readmodel_lag.py)
                        "projection_lag_p50_ms": _ms(percentile(lags, 50)),
                        "projection_lag_p99_ms": _ms(percentile(lags, 99)),
                        "projection_unseen": unseen,
                        "passed": passed,
                    }
                )
                self.say(f"  {json.dumps(steps[-1])}")
                if not passed:
                    break
                sustained = rate
        self.figures["order_steps"] = steps
        self.figures["sustained_orders_per_s"] = sustained
        self.figures["load_rss_mib"] = {k: round(v / 2**20, 1) for k, v in self.meter.peak_rss.items()}

    # Where the CPU goes: py-spy samples every Python service during a fixed load. Only the thread holding the GIL
    # is sampled (--gil): that is the Python CPU. Without it a thread waiting for the GIL (after a socket write
    # released it) looks busy, and the profile blames socket writes for what is other threads' Python.
    async def profile(self, api: httpx.AsyncClient, ids: list[str], outcomes: Outcomes, out_dir: Path) -> None:
        rate, seconds = self.plan.profile_rate, self.plan.step_seconds
        out_dir.mkdir(parents=True, exist_ok=True)
        self.say(f"profiling orders: {rate:g}/s for {seconds:g} s, py-spy on every service ...")
        services = {name: pid for name, pid in self.meter.pids.items() if name in self.stack.platform.running}
        results = Results()
        place = functools.partial(self.place, api, ids, results, outcomes, 30.0)
        await _spying(services, seconds, out_dir, "orders", _run_all(schedule(rate, seconds, place)))
        self.say(f"profiling reads: closed loop on the gateway for {seconds:g} s ...")
        readers = {name: services[name] for name in ("gateway", "catalog")}
        gateway = self.stack.platform.http_url("gateway")
        reads = closed_loop(gateway, ids, self.plan.read_connections, seconds, self.reader)
        await _spying(readers, seconds, out_dir, "reads", reads)
        self.say(f"  profiles (py-spy's collapsed stacks, and the top functions): {out_dir}")

    # 4. Reads
    async def reads(self, gateway: str, bare: str, ids: list[str]) -> None:
        paths = {"gateway": gateway, "bare": bare}
        closed: dict[str, list[dict[str, Any]]] = {"gateway": [], "bare": []}
        for name in ("gateway", "bare", "bare", "gateway"):  # ABBA: a drift of the machine hits both alike
            self.say(f"reads, closed loop, {self.plan.read_connections} connections: {name} ...")
            closed[name].append(
                await closed_loop(paths[name], ids, self.plan.read_connections, self.plan.read_seconds, self.reader)
            )
        best = {name: max(runs, key=lambda r: r["per_s"]) for name, runs in closed.items()}
        opened: dict[str, list[dict[str, Any]]] = {"gateway": [], "bare": []}
        for rate in self.plan.read_rates:
            for name in ("gateway", "bare"):
                self.say(f"reads, open loop, {rate:g}/s: {name} ...")
                opened[name].append(await open_loop(paths[name], ids, rate, self.plan.read_seconds, self.reader))
        self.figures["reads_closed_loop"] = best
        self.figures["reads_open_loop"] = opened
        self.figures["reads_ratio_to_bare"] = round(best["gateway"]["per_s"] / best["bare"]["per_s"], 3)


def _read_figures(latencies: list[float], errors: int, seconds: float) -> dict[str, Any]:
    return {
        "per_s": round(len(latencies) / seconds, 1),
        "p50_ms": _ms(percentile(latencies, 50)),
        "p99_ms": _ms(percentile(latencies, 99)),
        "errors": errors,
    }


# wrk's script: the product ids in turn, and a JSON line of figures at the end.
_WRK_SCRIPT = """
local ids = {%s}
local i = 0
request = function()
  i = i + 1
  return wrk.format("GET", "/v1/products/" .. ids[(i %% #ids) + 1])
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('FIGURES {"requests": %%d, "seconds": %%f, "p50_us": %%d, "p99_us": %%d, "errors": %%d}\\n',
    summary.requests, summary.duration / 1e6, latency:percentile(50), latency:percentile(99),
    e.connect + e.read + e.write + e.status + e.timeout))
end
"""


async def closed_loop(
    base_url: str, ids: list[str], connections: int, seconds: float, headers: dict[str, str]
) -> dict[str, Any]:
    """Throughput with `connections` clients each sending its next request when the last is answered.

    The load comes from wrk (C), on one thread: a Python client would spend more CPU per request than the bare
    handler it measures, and the two share this machine's cores.
    """
    with tempfile.NamedTemporaryFile("w", suffix=".lua") as script:
        script.write(_WRK_SCRIPT % ", ".join(f'"{product_id}"' for product_id in ids))
        script.flush()
        sent = [arg for name, value in headers.items() for arg in ("-H", f"{name}: {value}")]
        args = [install.wrk(), "-t1", f"-c{connections}", f"-d{seconds:g}s", *sent, "-s", script.name, base_url]
        await asyncio.to_thread(subprocess.run, [*args[:-1], "-d2s", base_url], capture_output=True)  # warm-up
        done = await asyncio.to_thread(subprocess.run, args, capture_output=True, text=True)
    line = next((ln for ln in done.stdout.splitlines() if ln.startswith("FIGURES ")), None)
    if line is None:
        raise RuntimeError(f"wrk failed: {done.stdout}{done.stderr}")
    wrk = json.loads(line.removeprefix("FIGURES "))
    return {
        "per_s": round(wrk["requests"] / wrk["seconds"], 1),
        "p50_ms": round(wrk["p50_us"] / 1000, 2),
        "p99_ms": round(wrk["p99_us"] / 1000, 2),
        "errors": wrk["errors"],
    }


async def open_loop(
    base_url: str, ids: list[str], rate: float, seconds: float, headers: dict[str, str]
) -> dict[str, Any]:
    """Requests leave on schedule whatever the answers take, so a slow answer is latency, not a lower rate."""
    latencies: list[float] = []
    errors = 0
    client = KeepAliveGetter(base_url, headers=headers)

    async def one(record: bool = True) -> None:
        nonlocal errors
        started = time.perf_counter()
        try:
            status = await client.get(f"/v1/products/{random.choice(ids)}")
        except HttpError:
            status = 0
        if not record:
            return
        if status == 200:
            latencies.append(time.perf_counter() - started)
        else:
            errors += 1

    try:
        await asyncio.gather(*(one(record=False) for _ in range(20)))  # warm-up: connections, caches
        await asyncio.gather(*await schedule(rate, seconds, one))
    finally:
        await client.close()
    return {"rate": rate, **_read_figures(latencies, errors, seconds)}


async def measure(
    plan: Plan,
    state_dir: Path,
    report: Callable[[str], None] = _say,
    profile_dir: Path | None = None,
    *,
    one_process: bool = False,
) -> dict[str, Any]:
    stack = LocalStack(
        state_dir,
        extra_env={"TESSERA_TRACE_SAMPLE_RATIO": str(plan.trace_sample_ratio), **COUNTED_NOT_LIMITED},
        one_process=one_process,
    )
    report(f"starting the local stack (traces sampled: {plan.trace_sample_ratio:g}) ...")
    await stack.start()
    bare = BareRead(stack.infra.endpoints.redis_url, stack.platform.log_dir)
    outcomes = Outcomes(stack.infra.endpoints.kafka_bootstrap)
    try:
        platform = stack.platform
        ids = await seed_products(platform.grpc_address("catalog"), platform.grpc_address("inventory"), plan.products,
                                  10_000_000)  # fmt: skip
        await bare.start(ids, platform.grpc_address("catalog"))
        await outcomes.start()
        capacity = Capacity(stack, plan, report)
        limits = httpx.Limits(max_connections=500, max_keepalive_connections=500)
        async with platform.api(timeout=30, limits=limits) as api:  # each order sends its customer's token
            # Steady state is what capacity means: Kafka's JIT compiles its hot paths over the first few hundred
            # requests (its compiler threads were a tenth of the machine then), and pools and caches fill.
            report(f"warming up: {plan.warmup_orders} orders ...")
            warm = Results()
            place = functools.partial(capacity.place, api, ids, warm, outcomes, 60.0)
            await _run_all(schedule(10, plan.warmup_orders / 10, place))
            await asyncio.sleep(5)
            await capacity.idle()
            await capacity.cpu_per_order(api, ids, outcomes)
            if profile_dir is not None:
                await capacity.profile(api, ids, outcomes, profile_dir)
                return capacity.figures
            await capacity.order_rates(api, ids, outcomes)
        await capacity.reads(platform.http_url("gateway"), bare.url, ids)
        capacity.figures["generator_cpu_s"] = round(sum(os.times()[:2]), 1)
        return capacity.figures
    finally:
        await outcomes.stop()
        await bare.stop()
        await stack.stop()


async def _run_all(scheduled: Awaitable[list[asyncio.Task[None]]]) -> None:
    await asyncio.gather(*(await scheduled))


async def _spying(services: dict[str, int], seconds: float, out_dir: Path, load: str, running: Awaitable[Any]) -> None:
    """Samples each service with py-spy while `running` loads the platform; writes <service>-<load>.txt and -top."""
    py_spy = shutil.which("py-spy")
    if py_spy is None:
        raise RuntimeError("--profile needs py-spy on PATH (pip install py-spy)")
    spies = [
        await asyncio.create_subprocess_exec(
            py_spy, "record", "--pid", str(pid), "--duration", str(int(seconds)), "--rate", "200",
            "--gil", "--nonblocking", "--format", "raw", "--output", str(out_dir / f"{name}-{load}.txt"),
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        for name, pid in services.items()
    ]
    await running
    await asyncio.gather(*(spy.wait() for spy in spies))
    for name in services:
        summarize_profile(out_dir / f"{name}-{load}.txt", out_dir / f"{name}-{load}-top.txt")


def summarize_profile(raw: Path, top: Path, lines: int = 40) -> str:
    """py-spy's collapsed stacks -> the functions with the most samples, on the stack (total) and on top (self)."""
    total: dict[str, int] = {}
    own: dict[str, int] = {}
    samples = 0
    for line in raw.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        count = int(count_text)
        frames = stack.split(";")[1:]  # the first is the process/thread
        samples += count
        for frame in set(frames):
            total[frame] = total.get(frame, 0) + count
        if frames:
            own[frames[-1]] = own.get(frames[-1], 0) + count
    report = [f"{samples} samples"]
    for title, table in (("total", total), ("self", own)):
        report.append(f"\n== {title} ==")
        for frame, count in sorted(table.items(), key=lambda item: -item[1])[:lines]:
            report.append(f"{100 * count / max(samples, 1):6.1f}%  {frame}")
    top.write_text("\n".join(report) + "\n")
    return f"{samples} samples -> {top}"


def print_summary(figures: dict[str, Any]) -> None:
    print(f"\n== Tessera capacity (traces sampled: {figures['plan']['trace_sample_ratio']:g}) ==")
    print(f"idle: {figures['idle_cores_total']:.3f} cores")
    print(f"CPU per order: {figures['cpu_ms_per_order_total']:.1f} ms in all "
          f"({figures['cpu_ms_per_order_platform']:.1f} ms without Jaeger and Prometheus)")  # fmt: skip
    print(f"  {'process':<12} {'CPU-ms/order':>12} {'idle cores':>11} {'idle MiB':>9} {'peak MiB':>9}")
    for name, cost in figures["cpu_ms_per_order"].items():
        print(f"  {name:<12} {cost:>12.2f} {figures['idle_cores'][name]:>11.4f} "
              f"{figures['idle_rss_mib'].get(name, 0):>9.1f} {figures['load_rss_mib'].get(name, 0):>9.1f}")  # fmt: skip
    print(f"sustained: {figures['sustained_orders_per_s']:g} orders/s "
          f"(placement -> confirmed p99 < {CONFIRM_P99_LIMIT * 1000:.0f} ms, none lost)")  # fmt: skip
    for step in figures["order_steps"]:
        print(f"  {step['rate']:>5g}/s  confirmed {step['confirmed']}/{step['sent']}  p50 {step['confirm_p50_ms']} ms"
              f"  p99 {step['confirm_p99_ms']} ms  {step['platform_cores']} cores  "
              f"{'ok' if step['passed'] else 'FAILED'}  read model lag p50 {step['projection_lag_p50_ms']} ms"
              f"  p99 {step['projection_lag_p99_ms']} ms  unseen {step['projection_unseen']}")  # fmt: skip
    closed = figures["reads_closed_loop"]
    print(f"reads, closed loop: gateway {closed['gateway']['per_s']}/s (p50 {closed['gateway']['p50_ms']} ms), "
          f"bare {closed['bare']['per_s']}/s (p50 {closed['bare']['p50_ms']} ms): "
          f"ratio {figures['reads_ratio_to_bare']:.2f}")  # fmt: skip
    for name, runs in figures["reads_open_loop"].items():
        for run in runs:
            print(f"reads, open loop, {name:<7} {run['rate']:>5g}/s: p50 {run['p50_ms']} ms  p99 {run['p99_ms']} ms"
                  f"  errors {run['errors']}")  # fmt: skip
    print("\n== targets (issue 24) ==")
    print(capacity_targets.table(capacity_targets.assess(figures)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true", help="short phases: checks the benchmark runs")
    parser.add_argument("--order-rates", help="comma-separated order rates to step through")
    parser.add_argument("--step-seconds", type=float)
    parser.add_argument("--trace-sample-ratio", type=float, help="the share of traces kept (default 1: all)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--profile", type=Path, help="instead of the rate steps, profile every service (py-spy) here")
    parser.add_argument(
        "--one-process", action="store_true", help="the services in one process (its figures are named `services`)"
    )
    args = parser.parse_args()
    if args.one_process and args.profile:
        parser.error("--profile samples each service's process: it needs a process per service")
    plan = SMOKE if args.smoke else Plan()
    if args.order_rates:
        plan = dataclasses.replace(plan, order_rates=tuple(float(r) for r in args.order_rates.split(",")))
    if args.step_seconds:
        plan = dataclasses.replace(plan, step_seconds=args.step_seconds)
    if args.trace_sample_ratio is not None:
        plan = dataclasses.replace(plan, trace_sample_ratio=args.trace_sample_ratio)
    with tempfile.TemporaryDirectory(prefix="tessera-capacity-") as tmp:
        figures = asyncio.run(measure(plan, Path(tmp), profile_dir=args.profile, one_process=args.one_process))
    if args.profile is None:
        print_summary(figures)
    else:
        keys = ("idle_cores_total", "cpu_ms_per_order_total", "cpu_ms_per_order_platform", "cpu_ms_per_order")
        print(json.dumps({key: figures[key] for key in keys}, indent=1))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
