"""The capacity targets of issue 24, checked against one `tools:capacity` run: each figure beside its target,
PASS or MISS. Kept apart from the benchmark so the verdicts are plain logic, tested without a platform."""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

LAG_ORDER_RATE = 30  # orders/s: the step whose read model lag is judged
P99_READ_RATE = 300  # reads/s: the open-loop run whose p99 is judged


@dataclass(frozen=True)
class Target:
    name: str
    unit: str
    sign: Literal["<=", "<", ">="]  # value <sign> limit: the target is met
    limit: float
    figure: Callable[[Mapping[str, Any]], float | None]  # None: the run did not measure it

    def met_by(self, value: float) -> bool:
        return {"<=": operator.le, "<": operator.lt, ">=": operator.ge}[self.sign](value, self.limit)

    @property
    def wording(self) -> str:
        return f"{self.sign} {self.limit:g} {self.unit}".strip()


@dataclass(frozen=True)
class Verdict:
    target: Target
    value: float | None

    @property
    def passed(self) -> bool:
        return self.value is not None and self.target.met_by(self.value)

    @property
    def word(self) -> str:
        return "PASS" if self.passed else ("MISS" if self.value is not None else "NOT MEASURED")


def _lag_p99_at(rate: float) -> Callable[[Mapping[str, Any]], float | None]:
    def figure(figures: Mapping[str, Any]) -> float | None:
        steps = [s for s in figures.get("order_steps", []) if s["rate"] == rate]
        return steps[0]["projection_lag_p99_ms"] if steps else None

    return figure


def _read_p99_at(rate: float) -> Callable[[Mapping[str, Any]], float | None]:
    def figure(figures: Mapping[str, Any]) -> float | None:
        runs = [r for r in figures.get("reads_open_loop", {}).get("gateway", []) if r["rate"] == rate]
        return runs[0]["p99_ms"] if runs else None

    return figure


TARGETS = (
    Target("CPU per order, all processes", "ms", "<=", 40, lambda f: f.get("cpu_ms_per_order_total")),
    Target("sustained orders (confirmed p99 < 500 ms, none lost)", "/s", ">=", 70,
           lambda f: f.get("sustained_orders_per_s")),
    Target("reads, closed loop, gateway / bare handler", "", ">=", 0.6, lambda f: f.get("reads_ratio_to_bare")),
    Target(f"read p99 at {P99_READ_RATE}/s open loop", "ms", "<", 5, _read_p99_at(P99_READ_RATE)),
    Target(f"read model lag p99 at {LAG_ORDER_RATE} orders/s", "ms", "<", 150, _lag_p99_at(LAG_ORDER_RATE)),
    Target("idle, all processes", "cores", "<=", 0.04, lambda f: f.get("idle_cores_total")),
)  # fmt: skip


def assess(figures: Mapping[str, Any], targets: Iterable[Target] = TARGETS) -> list[Verdict]:
    return [Verdict(target, target.figure(figures)) for target in targets]


def table(verdicts: Iterable[Verdict]) -> str:
    rows = [f"  {'figure':<54} {'measured':>10} {'target':>12}  verdict"]
    for verdict in verdicts:
        value = "-" if verdict.value is None else f"{verdict.value:g}"
        rows.append(f"  {verdict.target.name:<54} {value:>10} {verdict.target.wording:>12}  {verdict.word}")
    return "\n".join(rows)
