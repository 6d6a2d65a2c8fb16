"""CPU time and memory of process trees, read from /proc (Linux): what the OS charged, not wall time.

A tree is a process and its descendants (PostgreSQL's backends, anything a server forks). Descendants that have
exited and been reaped are in their parent's cutime/cstime, so a tree's CPU time never goes backwards.
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


def _stat(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text.rsplit(")", 1)[1].split()  # the command name may hold spaces and parentheses


def _children() -> dict[int, list[int]]:
    children: dict[int, list[int]] = defaultdict(list)
    for entry in os.scandir("/proc"):
        if entry.name.isdigit() and (fields := _stat(int(entry.name))) is not None:
            children[int(fields[1])].append(int(entry.name))
    return children


def _tree(root: int, children: dict[int, list[int]]) -> list[int]:
    pids, todo = [], [root]
    while todo:
        pid = todo.pop()
        pids.append(pid)
        todo.extend(children.get(pid, ()))
    return pids


def _per_tree(roots: dict[str, int], measure: Callable[[int, bool], float]) -> dict[str, float]:
    """measure(pid, is_root) summed over each named tree's processes."""
    children = _children()
    return {name: sum(measure(pid, pid == root) for pid in _tree(root, children)) for name, root in roots.items()}


def cpu_seconds(roots: dict[str, int]) -> dict[str, float]:
    """User + system CPU seconds of each named tree so far (own time, plus reaped children's)."""

    def cpu(pid: int, _: bool) -> float:
        fields = _stat(pid)
        return 0.0 if fields is None else sum(int(v) for v in fields[11:15]) / CLOCK_TICKS  # u, s, cu, cs time

    return _per_tree(roots, cpu)


def rss_bytes(roots: dict[str, int]) -> dict[str, int]:
    """Resident memory of each named tree (the sum over its processes; pages they share count once each)."""

    def resident(pid: int, is_root: bool) -> float:
        try:
            pages, shared = (int(v) for v in Path(f"/proc/{pid}/statm").read_text().split()[1:3])
        except (OSError, ValueError):
            return 0
        # PostgreSQL's backends share the server's buffers: count the shared pages of the root only.
        return (pages if is_root else pages - shared) * PAGE_SIZE

    return {name: int(total) for name, total in _per_tree(roots, resident).items()}


def pss_bytes(roots: dict[str, int]) -> dict[str, int]:
    """Proportional memory of each named tree: each page divided among the processes sharing it, so the sums of
    several trees add up to what they hold together (RSS would count a shared library once per process)."""

    def proportional(pid: int, _: bool) -> float:
        try:
            rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
        except OSError:
            return 0
        return next((int(line.split()[1]) * 1024 for line in rollup.splitlines() if line.startswith("Pss:")), 0)

    return {name: int(total) for name, total in _per_tree(roots, proportional).items()}
