"""Every service's domain is pure: importing it loads no I/O library (the kit's errors are plain exceptions; the
server maps them to gRPC statuses in kit.grpc_errors)."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys

import pytest

from tessera.topology import registry

IO_LIBRARIES = ("grpc", "asyncpg", "redis", "aiokafka", "faust", "pymongo", "httpx", "fastapi", "uvicorn")
DOMAINS = [module for name in registry().names if importlib.util.find_spec(module := f"tessera.{name}.domain")]


@pytest.mark.parametrize("module", DOMAINS)
def test_a_domain_module_imports_no_io_library(module: str) -> None:
    # A fresh interpreter: this one has loaded the I/O libraries already.
    loaded = subprocess.run(
        [sys.executable, "-c", f"import sys, json, {module}; print(json.dumps(sorted(sys.modules)))"],
        capture_output=True, text=True, check=True, env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )  # fmt: skip
    modules = json.loads(loaded.stdout)
    assert [m for m in modules if m.split(".")[0] in IO_LIBRARIES] == [], module


def test_the_services_with_a_domain_module_are_all_checked() -> None:
    assert {"tessera.orders.domain", "tessera.catalog.domain", "tessera.saga.domain"} <= set(DOMAINS)
