"""Waiting for a Prometheus counter in tests: a server's interceptor counts a call after its client has the answer."""

from __future__ import annotations

import asyncio
import time
from typing import Any


def count(child: Any) -> float:
    """The value of a labelled counter (prometheus_client keeps it private)."""
    return float(child._value.get())


async def counted(child: Any, expected: float, timeout: float = 2.0) -> float:
    """The counter's value once it reaches `expected`, or its value after `timeout` (bounded, never fixed)."""
    deadline = time.monotonic() + timeout
    while count(child) < expected and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    return count(child)
