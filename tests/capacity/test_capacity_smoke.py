"""The capacity benchmark's short run: every phase runs on a real local stack and reports every figure.

The figures themselves are not asserted (a timed assertion on a shared machine only measures the neighbours);
what must hold is that the benchmark works, and that no order is lost while it loads the platform.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tessera.tools.capacity import SMOKE, measure, print_summary
from tessera.topology import registry

pytestmark = pytest.mark.integration


async def test_the_benchmark_measures_every_phase_and_loses_no_order(tmp_path: Path) -> None:
    figures = await measure(SMOKE, tmp_path / "stack", report=lambda line: print(line, flush=True))
    print_summary(figures)

    processes = {*registry().names, "kafka", "postgres", "redis", "mongo", "jaeger", "prometheus"}
    assert set(figures["cpu_ms_per_order"]) == processes
    assert figures["cpu_orders"]["confirmed"] == SMOKE.cpu_orders and figures["cpu_orders"]["lost"] == 0
    assert figures["cpu_ms_per_order_total"] > 0
    assert set(figures["idle_rss_mib"]) == processes and set(figures["load_rss_mib"]) == processes
    assert figures["order_steps"] and all(step["lost"] == 0 for step in figures["order_steps"]), figures["order_steps"]
    assert [step["rate"] for step in figures["order_steps"]] == list(SMOKE.order_rates[: len(figures["order_steps"])])
    for path in ("gateway", "bare"):
        assert figures["reads_closed_loop"][path]["per_s"] > 0 and figures["reads_closed_loop"][path]["errors"] == 0
        assert [run["rate"] for run in figures["reads_open_loop"][path]] == list(SMOKE.read_rates)
    assert figures["reads_ratio_to_bare"] > 0
