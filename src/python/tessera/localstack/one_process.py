"""Every service in one Python process: `python -m tessera.localstack.one_process SERVICES_JSON`.

SERVICES_JSON maps each service's name to the environment its own process would have ({name: {VARIABLE: value}}),
so the one-process platform and the many-process one are configured by the same code (`Platform`) and differ only
in how the services are run. Each service is its bootstrap's SPEC, as its `main` runs it, with its own servers and
ports, talking to the others over gRPC and Kafka as it would across processes.
"""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path
from typing import Any

from tessera.kit.config import load_settings
from tessera.kit.service import ServiceSpec, run_in_one_process


def spec_of(name: str) -> ServiceSpec[Any]:
    spec = importlib.import_module(f"tessera.{name}.bootstrap").SPEC
    if not isinstance(spec, ServiceSpec):
        raise TypeError(f"tessera.{name}.bootstrap.SPEC is not a ServiceSpec")
    return spec


def main() -> None:
    if len(sys.argv) != 2:
        raise SystemExit(f"usage: python -m tessera.localstack.one_process SERVICES_JSON\n\n{__doc__}")
    environments: dict[str, dict[str, str]] = json.loads(Path(sys.argv[1]).read_text())
    specs = {name: spec_of(name) for name in environments}
    run_in_one_process([(specs[name], load_settings(specs[name].settings, env)) for name, env in environments.items()])


if __name__ == "__main__":
    main()
