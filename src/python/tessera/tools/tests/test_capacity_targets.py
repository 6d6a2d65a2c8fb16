"""The capacity targets' verdicts, on figures shaped as tools:capacity writes them."""

from __future__ import annotations

from typing import Any

from tessera.tools.capacity_targets import assess, table


def _figures(**changes: Any) -> dict[str, Any]:
    figures: dict[str, Any] = {
        "cpu_ms_per_order_total": 38.5,
        "sustained_orders_per_s": 70,
        "reads_ratio_to_bare": 0.61,
        "reads_open_loop": {"gateway": [{"rate": 100, "p99_ms": 9.0}, {"rate": 300, "p99_ms": 4.9}]},
        "order_steps": [{"rate": 20, "projection_lag_p99_ms": 900}, {"rate": 30, "projection_lag_p99_ms": 149}],
        "idle_cores_total": 0.04,
    }
    return {**figures, **changes}


def test_figures_at_or_within_their_targets_pass() -> None:
    assert [v.word for v in assess(_figures())] == ["PASS"] * 6


def test_each_figure_beyond_its_target_misses_and_the_table_says_so() -> None:
    verdicts = assess(_figures(cpu_ms_per_order_total=66.0, reads_open_loop={"gateway": [{"rate": 300, "p99_ms": 5}]}))
    assert [v.word for v in verdicts] == ["MISS", "PASS", "PASS", "MISS", "PASS", "PASS"]
    printed = table(verdicts)
    assert "CPU per order, all processes" in printed and "66" in printed and "<= 40 ms" in printed
    assert "read p99 at 300/s open loop" in printed and "< 5 ms  MISS" in printed


def test_a_figure_the_run_did_not_measure_is_neither_pass_nor_miss() -> None:
    """A smoke run steps through other order rates: the lag at 30 orders/s is not measured."""
    (lag,) = (
        v for v in assess(_figures(order_steps=[{"rate": 5, "projection_lag_p99_ms": 10}])) if "lag" in v.target.name
    )
    assert lag.value is None and not lag.passed and lag.word == "NOT MEASURED"
