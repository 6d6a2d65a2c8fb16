"""Jaeger built with the collector components the platform configures, not all thirty-three it ships.

Jaeger v2 is an OpenTelemetry Collector: its `components.go` hands every factory it may run to the collector, so
the program links Kafka's clients (a receiver and an exporter), Zipkin's and Jaeger's own receivers, AWS' SDK
(sigv4 auth), the tail-sampling and filtering processors (OTTL), a Prometheus exporter and more, all of which
the platform's configuration (`jaeger_config`) never names. That package is internal to Jaeger's module, so no
program of ours can import it: this edit of the copy we build from drops the factories not kept, then the imports
nothing uses any more. Its storage backends stay (one extension links them all); they are a third of the build.

A configuration naming a component that is not kept gets the collector's own answer at start: "unknown type".
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from tessera.localinfra.process import InfraError

_COMPONENTS = Path("cmd/jaeger/internal/components.go")
_FACTORY_LINE = re.compile(r"^\t\t(\w+)\.NewFactory\(\),[^\n]*\n", re.MULTILINE)
_IMPORT_BLOCK = re.compile(r"^import \((.*?)^\)", re.MULTILINE | re.DOTALL)
_IMPORT_LINE = re.compile(r'^\t(?:(\w+) )?"([^"]+)"\n', re.MULTILINE)


class JaegerTrimError(InfraError):
    """Jaeger's sources are not shaped as this edit expects (another version?): the build fails, naming Jaeger."""


@dataclass(frozen=True)
class JaegerComponents:
    """Keeps the factories of these Go packages (the last element of each one's import path)."""

    packages: tuple[str, ...]

    def apply(self, module: Path) -> None:
        path = module / _COMPONENTS
        text = path.read_text()
        found = set(_FACTORY_LINE.findall(text))
        missing = set(self.packages) - found
        if not found or missing:
            raise JaegerTrimError(f"{_COMPONENTS} registers no factory of {', '.join(sorted(missing)) or 'any kind'}")
        text = _FACTORY_LINE.sub(lambda line: line[0] if line[1] in self.packages else "", text)
        path.write_text(_without_unused_imports(text))

    def __str__(self) -> str:
        return f"Jaeger with the components {', '.join(self.packages)}"


def _without_unused_imports(text: str) -> str:
    block = _IMPORT_BLOCK.search(text)
    if block is None:
        raise JaegerTrimError(f"{_COMPONENTS} has no import block")
    body = text[block.end() :]

    def kept(line: re.Match[str]) -> str:
        name = line[1] or line[2].rsplit("/", 1)[-1]
        return line[0] if re.search(rf"\b{name}\.", body) else ""

    imports = _IMPORT_LINE.sub(kept, block[1])
    return text[: block.start(1)] + imports + text[block.end(1) :]
