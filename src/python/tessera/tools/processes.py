"""CPU time and memory of process trees, read from /proc (Linux): what the OS charged, not wall time.

A tree is a process and its descendants (PostgreSQL's backends, anything a server forks). Descendants that have
exited and been reaped are in their parent's cutime/cstime, so a tree's CPU time never goes backwards.
"""

from __future__ import annotations

import os
from collections import defaultdict
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


def cpu_seconds(roots: dict[str, int]) -> dict[str, float]:
    """User + system CPU seconds of each named tree so far (own time, plus reaped children's)."""
    children = _children()
    totals = {}
    for name, root in roots.items():
        ticks = 0
        for pid in _tree(root, children):
            if (fields := _stat(pid)) is not None:
                ticks += sum(int(value) for value in fields[11:15])  # utime, stime, cutime, cstime
        totals[name] = ticks / CLOCK_TICKS
    return totals


def rss_bytes(roots: dict[str, int]) -> dict[str, int]:
    """Resident memory of each named tree (the sum over its processes; pages they share count once each)."""
    children = _children()
    totals = {}
    for name, root in roots.items():
        total = 0
        for pid in _tree(root, children):
            try:
                resident, shared = (int(v) for v in Path(f"/proc/{pid}/statm").read_text().split()[1:3])
            except (OSError, ValueError):
                continue
            # PostgreSQL's backends share the server's buffers: count the shared pages of the root only.
            total += (resident if pid == root else resident - shared) * PAGE_SIZE
        totals[name] = total
    return totals
