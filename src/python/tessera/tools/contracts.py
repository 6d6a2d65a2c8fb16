"""The contract gate: the protos are linted, and may not break what was released or what main has.

    ./pants run src/python/tessera/tools:contracts                        lint, and breaking vs the released baseline
    ./pants run src/python/tessera/tools:contracts -- --against main      ... and vs a git ref (a branch, a commit)
    ./pants run src/python/tessera/tools:contracts -- --update-baseline   at a release: the baseline moves on

Events are stored for ever and every service decodes its peers' messages, so the rules are buf's FILE category
(src/protos/buf.yaml). The baseline (src/protos/baseline.binpb, a buf image) is what a shallow clone still has to
compare against; it only moves forward compatibly: --update-baseline refuses a breaking change unless it is told
what is being retired (--accept-breaking "why"). An intentional break is a new package (orders.v2) next to the
old one; README "Contracts" says how consumers migrate.

buf does the checking; this module only runs it (from the buf-bin wheel, so every machine runs the version the
lockfile pins) and reports its findings.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

PROTOS = Path("src/protos")
BASELINE_NAME = "baseline.binpb"


@dataclass(frozen=True)
class Finding:
    """One rule a proto file breaks, as buf reports it."""

    path: str
    line: int
    rule: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.rule}: {self.message}"


class ContractError(RuntimeError):
    """buf could not run the check at all (a proto that does not compile, an unknown git ref)."""


def buf_executable() -> Path:
    """The buf binary the buf-bin wheel installed (a wheel data script: bin/buf in a venv, .prefix/bin/buf in a PEX)."""
    dist = importlib.metadata.distribution("buf-bin")
    for file in dist.files or ():
        if file.name == "buf":
            path = Path(str(dist.locate_file(file))).resolve()
            if path.is_file():
                return path
    raise ContractError("the buf-bin distribution has no buf executable")


def _buf(protos: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(buf_executable()), *args], cwd=protos, capture_output=True, text=True, check=False)


def _findings(result: subprocess.CompletedProcess[str]) -> list[Finding]:
    """buf's JSON lines -> findings; exit 100 means 'found some', other failures mean buf could not check."""
    if result.returncode not in (0, 100):
        raise ContractError((result.stderr or result.stdout).strip())
    findings = []
    for line in result.stdout.splitlines():
        if line.strip():
            item = json.loads(line)
            findings.append(Finding(item["path"], int(item.get("start_line", 0)), item["type"], item["message"]))
    # A proto that does not compile is reported like a finding, but nothing was checked.
    unchecked = [str(finding) for finding in findings if finding.rule == "COMPILE"]
    if unchecked:
        raise ContractError("the protos do not compile:\n  " + "\n  ".join(unchecked))
    return findings


def lint(protos: Path = PROTOS) -> list[Finding]:
    return _findings(_buf(protos, "lint", "--error-format", "json"))


def breaking(protos: Path = PROTOS, *, against: str) -> list[Finding]:
    """What `protos` breaks of `against`: a buf image's path, or a git input (see git_input)."""
    return _findings(_buf(protos, "breaking", "--error-format", "json", "--against", against))


def git_input(ref: str, protos: Path = PROTOS) -> str:
    """buf's input for the protos as they are at a git ref of the repository that holds them."""
    top = subprocess.run(
        ["git", "rev-parse", "--show-toplevel"], cwd=protos, capture_output=True, text=True, check=False
    )
    if top.returncode != 0:
        raise ContractError(f"{protos} is not in a git repository: {top.stderr.strip()}")
    root = Path(top.stdout.strip())
    subdir = protos.resolve().relative_to(root.resolve())
    return f"{root / '.git'}#ref={ref},subdir={subdir}"


def update_baseline(protos: Path = PROTOS, *, accept_breaking: str | None = None) -> list[Finding]:
    """Writes the protos as released into the baseline. Refused if that breaks the old baseline, unless accepted."""
    baseline = protos / BASELINE_NAME
    broken = breaking(protos, against=BASELINE_NAME) if baseline.exists() else []
    if broken and not accept_breaking:
        raise ContractError(
            "the new baseline would break the released contracts:\n"
            + "\n".join(f"  {finding}" for finding in broken)
            + "\nMake the change in a new package (v2), or say what is retired with --accept-breaking 'why'."
        )
    built = _buf(protos, "build", "--exclude-source-info", "--output", f"{BASELINE_NAME}.new")
    if built.returncode != 0:
        raise ContractError(built.stderr.strip())
    (protos / f"{BASELINE_NAME}.new").replace(baseline)
    return broken


def check(protos: Path, against: list[str]) -> int:
    """Lint and breaking checks; prints every finding and returns the exit status."""
    results = [("buf lint", lint(protos))]
    results.append(("buf breaking vs the released baseline", breaking(protos, against=BASELINE_NAME)))
    for ref in against:
        results.append((f"buf breaking vs {ref}", breaking(protos, against=git_input(ref, protos))))
    for title, findings in results:
        print(f"{title}: {f'{len(findings)} finding(s)' if findings else 'ok'}")
        for finding in findings:
            print(f"  {finding}")
    return 1 if any(findings for _, findings in results) else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--protos", type=Path, default=PROTOS, help="the contracts' root (default: src/protos)")
    parser.add_argument("--against", action="append", default=[], help="also compare with this git ref (repeatable)")
    parser.add_argument("--update-baseline", action="store_true", help="write the current contracts as released")
    parser.add_argument("--accept-breaking", metavar="WHY", help="with --update-baseline: retire what it breaks")
    args = parser.parse_args()
    try:
        if args.update_baseline:
            retired = update_baseline(args.protos, accept_breaking=args.accept_breaking)
            for finding in retired:
                print(f"retired ({args.accept_breaking}): {finding}")
            print(f"wrote {args.protos / BASELINE_NAME}")
            return
        sys.exit(check(args.protos, args.against))
    except ContractError as error:
        sys.exit(f"contract gate: {error}")


if __name__ == "__main__":
    main()
