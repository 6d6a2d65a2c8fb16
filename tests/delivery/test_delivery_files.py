"""The pipeline and the files for users with Docker or a local cluster: checked as far as this machine can.

GitHub Actions workflows: actionlint (built from its Go module) and the workflow JSON schema. docker-compose.yaml:
the Compose specification's schema (check-jsonschema's bundled copy). The Tiltfile: Starlark, parsed as Python.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import check_jsonschema
import pytest
import yaml

from tessera.localinfra import install

WORKFLOWS = sorted(Path(".github/workflows").glob("*.yaml"))


def actionlint(*files: str) -> list[dict[str, object]]:
    linted = subprocess.run(
        [install.actionlint(), "-format", "{{json .}}", *files], capture_output=True, text=True, check=False
    )
    assert linted.returncode in (0, 1), linted.stderr  # 1: problems found, reported as JSON
    problems: list[dict[str, object]] = json.loads(linted.stdout or "[]")
    return problems


def test_there_are_a_pull_request_and_a_release_workflow() -> None:
    assert {p.name for p in WORKFLOWS} == {"ci.yaml", "release.yaml"}


def test_workflows_pass_actionlint() -> None:
    problems = actionlint(*map(str, WORKFLOWS))
    assert problems == [], "\n".join(f"{p['filepath']}:{p['line']}: {p['message']}" for p in problems)


def test_actionlint_does_catch_a_broken_workflow(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text(
        "on: push\njobs:\n  a:\n    runs-on: ubuntu-24.04\n    steps:\n      - run: echo ${{ foo.bar }}\n"
    )
    assert actionlint(str(broken)), "actionlint found nothing wrong in a broken workflow"


@pytest.mark.parametrize(
    ("schema", "files"),
    [("vendor.github-workflows", [str(p) for p in WORKFLOWS]), ("vendor.compose-spec", ["docker-compose.yaml"])],
)
def test_files_match_their_published_schemas(schema: str, files: list[str]) -> None:
    checked = subprocess.run(
        [sys.executable, "-m", check_jsonschema.__name__, "--builtin-schema", schema, *files],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_compose_runs_every_service_hardened_with_its_observability() -> None:
    compose = yaml.safe_load(Path("docker-compose.yaml").read_text())
    services = compose["services"]
    assert {"postgres", "redis", "kafka", "jaeger", "prometheus", "grafana", "kong"} <= set(services)
    ours = {name: s for name, s in services.items() if str(s.get("image", "")).startswith("tessera/")}
    assert set(ours) == {"catalog", "inventory", "payments", "orders", "saga", "projections", "gateway"}
    for name, service in ours.items():
        assert service["read_only"] is True and service["user"] == "10001:10001", name
        assert service["environment"]["TESSERA_SERVICE_NAME"] == name
    for mounted in ("deploy/compose/prometheus.yml", "deploy/compose/kong.yml", "helm/tessera/files/grafana"):
        assert Path(mounted).exists(), mounted


def test_the_tiltfile_is_valid_starlark_syntax() -> None:
    ast.parse(Path("Tiltfile").read_text(), filename="Tiltfile")
