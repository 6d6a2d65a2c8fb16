"""The saga's own metrics: how sagas end, how long each step takes, and which steps are stalled."""

from __future__ import annotations

from tessera.kit.metrics import LATENCY_BUCKETS, Counter, Histogram

SAGA_OUTCOMES = Counter("saga_outcomes_total", "Order sagas finished, by final state.", ["outcome"])
SAGA_STEP_SECONDS = Histogram(
    "saga_step_seconds", "Time of a saga step, retries included.", ["step"], buckets=LATENCY_BUCKETS
)
SAGA_STALLED = Counter(
    "saga_stalled_total",
    "Saga steps refused where the saga can neither go forward nor back (retried after a pause), by step.",
    ["step"],
)
