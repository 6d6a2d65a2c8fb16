"""The OpenAPI document says what the gateway does: schemathesis (--checks all, every phase, the stateful one
following the links from POST /v1/orders to the order's operations) finds no difference, for a customer's token
and for an admin's."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
import schemathesis
from e2e.platform_fixtures import Clients, platform_clients

from tessera.localinfra import InfraEndpoints
from tessera.testing.figures import record

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]

CONFIG = Path(__file__).with_name("schemathesis.toml")
SEED = "20261126"  # the same cases on every run; change it to explore others


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def api(infra: InfraEndpoints, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Clients]:
    # schemathesis sends as fast as it can, from one caller: counted, never limited.
    env = {"TESSERA_RATE_LIMIT": "100000/second"}
    async for clients in platform_clients(infra, tmp_path_factory.mktemp("openapi-logs"), env):
        for _ in range(3):  # products in stock, so that generated orders may also name real ones
            await clients.product(stock=1000)
        yield clients


@pytest.mark.parametrize("who", ["customer", "admin"])
async def test_schemathesis_finds_no_difference_between_the_document_and_the_api(api: Clients, who: str) -> None:
    header = api.platform.auth_headers("c-schemathesis", admin=who == "admin")["Authorization"]
    command = [
        sys.executable, "-c", "from schemathesis.cli import schemathesis; schemathesis()",
        "--config-file", str(CONFIG),
        "run", f"{api.platform.http_url('gateway')}/openapi.json",
        "--checks", "all",
        "--phases", "examples,coverage,fuzzing,stateful",
        "--max-examples", "40",
        "--seed", SEED,
        "--workers", "1",
        "--request-timeout", "10",
    ]  # fmt: skip
    env = {
        **os.environ,
        "TESSERA_TOKEN": header.removeprefix("Bearer "),
        "PYTHONPATH": os.pathsep.join(sys.path),
        "NO_COLOR": "1",
    }
    done = await asyncio.to_thread(subprocess.run, command, capture_output=True, text=True, env=env, timeout=1200)
    output = done.stdout + done.stderr
    cases = re.search(r"(\d+) generated, (\d+) passed", output)
    record("openapi", {"token": who, "schemathesis": schemathesis.__version__, "seed": SEED,
                       "cases": cases.group(0) if cases else None, "exit": done.returncode})  # fmt: skip
    assert done.returncode == 0, output[-8000:]
    assert cases is not None and int(cases.group(1)) > 500 and cases.group(1) == cases.group(2), output[-3000:]
