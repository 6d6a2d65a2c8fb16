"""Programs built once from the Go module proxy into the user's cache: FerretDB, Jaeger, Flagger, KEDA.

None of them is packaged by Debian or PyPI at a usable version, and no release download is reachable here, but
each is a Go module with a main package. Each is built in a module of our own that requires it; programs made
`built_together` are built in one such module, so the libraries they have in common (client-go, gRPC,
OpenTelemetry ...) resolve to one version each. The Go build cache is shared, so a library at one version compiles
once for all the programs that use it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from tessera.localinfra.install import cache_dir, file_lock
from tessera.localinfra.process import InfraError


def go_env() -> dict[str, str]:
    return {
        **os.environ,
        "GOPATH": str(cache_dir() / "gopath"),
        "GOCACHE": str(cache_dir() / "go-build"),
        "GOTOOLCHAIN": "local",  # never fetch another Go toolchain
        "CGO_ENABLED": "0",
        "GOFLAGS": "-mod=mod",
        # The compiler's collector runs a quarter as often: 11 % less CPU building FerretDB here (188 -> 168 s), for
        # twice the memory (0.6 -> 1.3 GB) that two compilers at once have room for.
        "GOGC": "400",
    }


def go(*args: str, cwd: Path | None = None) -> str:
    if shutil.which("go") is None:
        raise InfraError("Go is needed to build this program: install it (https://go.dev/doc/install)")
    result = subprocess.run(["go", *args], cwd=cwd, env=go_env(), capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise InfraError(f"go {' '.join(args[:3])} failed:\n{result.stderr[-4000:]}")
    return result.stdout


def module_dir(module: str, version: str) -> Path:
    """A module's files, fetched from the Go module proxy (manifests and configs ship in them too)."""
    return Path(json.loads(go("mod", "download", "-json", f"{module}@{version}"))["Dir"])


class SourceEdit(Protocol):
    """A change to the copy of a module that a program is built from."""

    def apply(self, module: Path) -> None: ...


@dataclass(frozen=True)
class GoProgram:
    """One main package of a module, at a pinned version."""

    name: str
    module: str
    version: str
    package: str
    tags: tuple[str, ...] = ()
    stamps: dict[str, str] = field(default_factory=dict)  # -X package.variable=value
    # Files its release process generates and its module lacks (path in the module -> content): the module is then
    # built from a copy holding them, in place of the proxy's (a `replace`), since the module cache is read-only.
    generated: dict[str, str] = field(default_factory=dict)
    # An edit of that copy (e.g. leaving out parts the platform does not use); its repr is part of the cache key.
    edit: SourceEdit | None = None
    # The programs built in the same module as this one (built_together): their requirements choose its libraries'
    # versions too, so they are part of its cache key.
    companions: tuple[GoProgram, ...] = ()

    def _parts(self) -> list[object]:
        parts: list[object] = [self.module, self.version, self.package, self.tags, self.stamps, self.generated]
        if self.edit is not None:  # (only then: the keys of programs built without one stay as they were)
            parts.append(repr(self.edit))
        return parts

    def _key(self) -> str:
        parts = self._parts()
        if self.companions:
            parts.append(sorted(json.dumps(companion._parts(), sort_keys=True) for companion in self.companions))
        text = json.dumps(parts, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:10]

    def target(self) -> Path:
        """Where the built program is kept in the cache (it may not be built yet)."""
        return cache_dir() / "go-programs" / f"{self.name}-{self.version}-{self._key()}"

    def built(self) -> bool:
        return self.target().exists()

    def path(self, log: Callable[[str], None] = print) -> Path:
        """The built program, building it first if the cache lacks it (or waiting for the process building it)."""
        target = self.target()
        if target.exists():
            return target
        with file_lock(f"go-program-{self.name}"):
            if not target.exists():
                try:
                    self._build(target, log)
                except InfraError as exc:
                    raise InfraError(f"building {self.name} ({self.package}@{self.version}) failed: {exc}") from exc
        return target

    def _build(self, target: Path, log: Callable[[str], None]) -> None:
        started = time.monotonic()
        log(f"building {self.name} {self.version} from the Go module proxy (once, into {target.parent})")
        work = cache_dir() / "go-programs" / f"{self.name}.module"
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        (work / "go.mod").write_text(f"module tessera.local/build/{self.name}\n\ngo 1.24.0\n")
        members = (self, *self.companions)
        if self.companions:
            log(f"  in one module with {', '.join(companion.name for companion in self.companions)}")
        # tools.go pins the main packages, so `go mod tidy` keeps their requirements.
        imports = "".join(f'\t_ "{package}"\n' for package in sorted({member.package for member in members}))
        (work / "tools.go").write_text(f"//go:build tools\n\npackage tools\n\nimport (\n{imports})\n")
        # One entry per module, in the same order for every program of the group (the same go.mod for each).
        modules: dict[str, GoProgram] = {}
        for member in sorted(members, key=lambda member: member.name):
            modules.setdefault(member.module, member)
        for number, module in enumerate(sorted(modules)):
            modules[module]._require(work, f"module-{number}", log)
        go("mod", "tidy", cwd=work)
        ldflags = " ".join(["-s", "-w", *(f"-X {variable}={value}" for variable, value in self.stamps.items())])
        partial = target.with_name(target.name + ".partial")
        go("build", "-trimpath", "-tags", ",".join(self.tags), "-ldflags", ldflags, "-o", str(partial), self.package,
           cwd=work)  # fmt: skip
        partial.rename(target)
        log(f"built {self.name} in {time.monotonic() - started:.0f} s")

    def _require(self, work: Path, copy_name: str, log: Callable[[str], None]) -> None:
        """Adds this program's module to the build module in `work`: as the proxy serves it, or as an edited copy."""
        if not self.generated and self.edit is None:
            go("get", f"{self.module}@{self.version}", cwd=work)
            return
        source = work / copy_name
        shutil.copytree(module_dir(self.module, self.version), source)
        for path in (source, *source.rglob("*")):
            path.chmod(0o755 if path.is_dir() else 0o644)  # the module cache's copies are read-only
        for relative, content in self.generated.items():
            (source / relative).write_text(content)
        if self.edit is not None:
            log(f"  from a copy of {self.module} edited: {self.edit}")
            self.edit.apply(source)
        go("mod", "edit", f"-require={self.module}@{self.version}", f"-replace={self.module}=./{copy_name}", cwd=work)


def built_together(*programs: GoProgram) -> tuple[GoProgram, ...]:
    """The programs, each to be built in one module with the others: where they need the same library, MVS picks
    one version of it (the highest any of them requires), which compiles once for all. They must build against
    it: choose versions that stand on the same Kubernetes and gRPC lines."""
    return tuple(
        dataclasses.replace(program, companions=tuple(other for other in programs if other is not program))
        for program in programs
    )
