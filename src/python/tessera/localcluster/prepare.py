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
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

from tessera.localcluster import binaries
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
)


def _say_as(log: Callable[[str], None], step: str, line: str) -> None:
    log(f"{step}: {line}")


def prepare(prerequisites: tuple[Prerequisite, ...], log: Callable[[str], None]) -> dict[str, float]:
    """Builds what the cache lacks, in order; returns each build's seconds (0 for a cached one)."""
    seconds: dict[str, float] = {}
    for number, prerequisite in enumerate(prerequisites, 1):
        step = f"[prepare {number}/{len(prerequisites)}] {prerequisite.name}"
        if prerequisite.built():
            log(f"{step}: in the cache")
            seconds[prerequisite.name] = 0.0
            continue
        log(f"{step}: building (for {prerequisite.needed_by})")
        started = time.monotonic()
        prerequisite.build(functools.partial(_say_as, log, step))
        seconds[prerequisite.name] = time.monotonic() - started
        log(f"{step}: built in {seconds[prerequisite.name]:.0f} s")
    return seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--local-only", action="store_true", help="only what the local stack needs (no cluster)")
    args = parser.parse_args(argv)
    wanted = LOCAL if args.local_only else LOCAL + CLUSTER

    def log(line: str) -> None:
        print(line, flush=True)

    started = time.monotonic()
    try:
        prepare(wanted, log)
    except InfraError as exc:
        log(f"[prepare] failed: {exc}")
        return 1
    log(f"[prepare] every program is in the cache ({time.monotonic() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
