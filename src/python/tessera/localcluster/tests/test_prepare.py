"""`localcluster:prepare`'s order and its report, on stand-in programs (a child process as the build)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable

from tessera.localcluster.prepare import CLUSTER, LOCAL, Prerequisite, prepare


def _stand_in(name: str, cached: bool, built: list[str]) -> Prerequisite:
    def build(log: Callable[[str], None]) -> None:
        # A child that spends CPU, as `go build` does: its CPU time is what the report counts.
        subprocess.run([sys.executable, "-c", "sum(i * i for i in range(3_000_000))"], check=True)
        log("compiled")
        built.append(name)

    return Prerequisite(name, "a test", lambda: cached, build)


def test_builds_only_what_the_cache_lacks_in_order_and_reports_each_build_s_time_and_cpu() -> None:
    lines: list[str] = []
    built: list[str] = []
    wanted = (_stand_in("a", False, built), _stand_in("b", True, built), _stand_in("c", False, built))
    costs = prepare(wanted, lines.append)
    assert built == ["a", "c"]
    assert costs["b"].seconds == 0.0 and costs["a"].seconds > 0 and costs["c"].seconds > 0
    assert costs["a"].cpu_seconds > 0.05  # the child's CPU, counted once it has exited
    assert lines[1] == "[prepare 1/3] a: compiled"
    assert lines[2].startswith("[prepare 1/3] a: built in ") and lines[2].endswith(" s of CPU)")
    assert lines[3] == "[prepare 2/3] b: in the cache"


def test_the_local_stack_s_programs_come_first_and_no_program_is_built_twice() -> None:
    names = [prerequisite.name for prerequisite in LOCAL + CLUSTER]
    assert names[0].startswith("ferretdb") and names[1].startswith("jaeger")
    assert len(names) == len(set(names))
    assert not any(name.startswith("jaeger") for name in names[2:])
