"""KEDA built with the scalers the platform can use, not all of its seventy.

KEDA compiles every scaler into one Go package, so its operator and its metrics server each pull in every cloud's
SDK: 3,336 packages for the operator (961 of them Elasticsearch's client alone). The platform's chart scales on
`cpu`, `memory` and `prometheus`; a service added to it may scale on what the platform runs (Kafka, PostgreSQL,
Redis) or on a schedule. Built with those scalers the operator is 1,643 packages, and a new machine's first test
run compiles about half as much of KEDA.

KEDA has no build tags to choose scalers (as Prometheus has for its service discovery), hence this edit of the
copy of its module we build from: the triggers not kept leave `buildScaler`'s switch (between KEDA's own
TRIGGERS-START/END markers, which its scaffolding keeps), the scaler files only they use are deleted, and the
constants the kept scalers shared with a deleted file move to a file of their own. A ScaledObject with a trigger
that is not kept gets KEDA's own answer, "no scaler found for type: <type>".
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from tessera.localinfra.process import InfraError

_BUILDER = Path("pkg/scaling/scalers_builder.go")
_SCALERS = Path("pkg/scalers")
_SWITCH = "\tswitch triggerType {\n"
_DEFAULT = "\tdefault:\n"
_CASE = re.compile(r'^\tcase "([^"]+)":', re.MULTILINE)
_CONSTRUCTOR_CALL = re.compile(r"scalers\.(New\w+)\(")
_CONSTRUCTOR_DEFINITION = re.compile(r"^func (New\w+)\(", re.MULTILINE)
_CONST_BLOCK = re.compile(r"^const \((.*?)^\)", re.MULTILINE | re.DOTALL)
_CONST_SPEC = re.compile(r"^\t(\w+)\s*=\s*(\"[^\"\n]*\"|[\w.]+)\s*$", re.MULTILINE)
_COMMENT_OR_STRING = re.compile(r'//[^\n]*|/\*.*?\*/|"(?:\\.|[^"\\\n])*"|`[^`]*`', re.DOTALL)
_TOP_LEVEL_NAME = re.compile(r"^(?:func|type|var|const) (\w+)", re.MULTILINE)
_DECLARATION_BLOCK = re.compile(r"^(?:var|const|type) \((.*?)^\)", re.MULTILINE | re.DOTALL)
_BLOCK_NAME = re.compile(r"^\t(\w+)", re.MULTILINE)
CARRIED_CONSTANTS = "zz_tessera_kept_constants.go"


class TrimError(InfraError):
    """KEDA's sources are not shaped as this edit expects (another version?): the build fails, naming KEDA."""


@dataclass(frozen=True)
class KedaScalers:
    """Keeps the scalers of these trigger types (KEDA's `type:` of a ScaledObject trigger)."""

    triggers: tuple[str, ...]

    def apply(self, module: Path) -> None:
        builder = module / _BUILDER
        kept, dropped = _split_switch(builder, set(self.triggers))
        needed = _constructors(kept)
        unneeded = _constructors(dropped) - needed
        deleted: list[str] = []
        for source in sorted((module / _SCALERS).glob("*.go")):
            if source.name.endswith("_test.go"):
                continue
            defined = set(_CONSTRUCTOR_DEFINITION.findall(source.read_text()))
            if defined & unneeded and not defined & needed:
                deleted.append(source.read_text())
                source.unlink()
                source.with_name(f"{source.stem}_test.go").unlink(missing_ok=True)
        _carry_constants(module / _SCALERS, deleted)

    def __str__(self) -> str:
        return f"KEDA with the scalers {', '.join(self.triggers)}"


def _split_switch(builder: Path, keep: set[str]) -> tuple[list[str], list[str]]:
    """Rewrites the switch of trigger types with the kept cases only; returns the kept cases and the dropped."""
    text = builder.read_text()
    if text.count(_SWITCH) != 1 or _DEFAULT not in text.split(_SWITCH, 1)[1]:
        raise TrimError(f"{_BUILDER} has no single `switch triggerType` with a default")
    head, rest = text.split(_SWITCH, 1)
    cases, tail = rest.split(_DEFAULT, 1)
    clauses = [clause for clause in re.split(r"^(?=\tcase \")", cases, flags=re.MULTILINE) if clause.strip()]
    kept = [clause for clause in clauses if _trigger(clause) in keep]
    unknown = keep - {_trigger(clause) for clause in kept}
    if unknown:
        raise TrimError(f"KEDA has no scaler for {', '.join(sorted(unknown))}")
    builder.write_text(head + _SWITCH + "".join(kept) + _DEFAULT + tail)
    return kept, [clause for clause in clauses if clause not in kept]


def _trigger(clause: str) -> str:
    match = _CASE.match(clause)
    if match is None:
        raise TrimError(f"unexpected text among the cases of {_BUILDER}: {clause.strip()[:80]!r}")
    return match.group(1)


def _constructors(clauses: list[str]) -> set[str]:
    return {name for clause in clauses for name in _CONSTRUCTOR_CALL.findall(clause)}


def _carry_constants(package: Path, deleted: list[str]) -> None:
    """Declares again the constants of deleted files that the remaining files of the package use."""
    declared = {
        name: value
        for text in deleted
        for block in _CONST_BLOCK.findall(text)
        for name, value in _CONST_SPEC.findall(block)
    }
    remaining = " ".join(source.read_text() for source in package.glob("*.go") if not source.name.endswith("_test.go"))
    code = _COMMENT_OR_STRING.sub(" ", remaining)
    # Names the package still declares at its top level: declaring one again would not compile. (A local of the
    # same name only shadows a carried constant, and an unused constant compiles: the test of use can be loose.)
    top_level = set(_TOP_LEVEL_NAME.findall(remaining)) | {
        name for block in _DECLARATION_BLOCK.findall(remaining) for name in _BLOCK_NAME.findall(block)
    }
    used = {
        name: value for name, value in declared.items() if name not in top_level and re.search(rf"\b{name}\b", code)
    }
    if used:
        specs = "".join(f"\t{name} = {value}\n" for name, value in sorted(used.items()))
        (package / CARRIED_CONSTANTS).write_text(
            f"package scalers\n\n// Declared by scalers not built.\nconst (\n{specs})\n"
        )
