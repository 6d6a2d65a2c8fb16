"""The pipeline and the files for users with Docker or a local cluster: checked as far as this machine can.

GitHub Actions workflows: actionlint (built from its Go module) and the workflow JSON schema. The Compose stack
(tools:compose): the Compose specification's schema (check-jsonschema's bundled copy). The Tiltfile: Starlark,
run here as Python with Tilt's functions recorded. All three must follow the registry of services.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import check_jsonschema
import pytest
import yaml

from tessera import topology
from tessera.localinfra import install
from tessera.localinfra.mongo import DATABASE as FERRETDB_DATABASE
from tessera.localinfra.mongo import FILTER_INDEX_SQL
from tessera.tools import compose
from tessera.topology import registry

WORKFLOWS = sorted(Path(".github/workflows").glob("*.yaml"))


def actionlint(*files: str) -> list[dict[str, object]]:
    linted = subprocess.run(
        [install.actionlint(), "-format", "{{json .}}", *files], capture_output=True, text=True, check=False
    )
    assert linted.returncode in (0, 1), linted.stderr  # 1: problems found, reported as JSON
    problems: list[dict[str, object]] = json.loads(linted.stdout or "[]")
    return problems


def _workflow(name: str) -> dict[str, Any]:
    loaded: dict[Any, Any] = yaml.safe_load(Path(f".github/workflows/{name}").read_text())
    loaded["on"] = loaded.pop(True, loaded.get("on"))  # YAML 1.1 reads the key `on` as true
    return loaded


def test_pull_requests_are_tested_and_main_is_released_with_a_canary_that_can_fail_the_release() -> None:
    ci, release = _workflow("ci.yaml"), _workflow("release.yaml")
    assert "pull_request" in ci["on"] and release["on"]["push"]["branches"] == ["main"]
    runs = [step.get("run", "") for step in ci["jobs"]["build"]["steps"]]
    assert any("./pants" in run and " test " in run for run in runs), runs
    canary = " ".join(step.get("run", "") for step in release["jobs"]["canary"]["steps"])
    assert "helm upgrade --install" in canary and "flagger.enabled=true" in canary and "Failed)" in canary
    assert any(
        step.get("if") == "failure()" and "helm rollback" in step["run"] for step in release["jobs"]["canary"]["steps"]
    )


@pytest.mark.parametrize(("workflow", "job"), [("ci.yaml", "images"), ("release.yaml", "push-images")])
def test_every_registered_service_s_image_is_built_from_the_registry(workflow: str, job: str) -> None:
    jobs = _workflow(workflow)["jobs"]
    names = " ".join(step.get("run", "") for step in jobs["services"]["steps"])
    assert str(topology.REGISTRY_FILE) in names and "keys" in names  # the matrix is the registry's service names
    assert (
        "services" in jobs[job]["needs"]
        and "needs.services.outputs.names" in jobs[job]["strategy"]["matrix"]["service"]
    )
    build = " ".join(step.get("run", "") for step in jobs[job]["steps"])
    assert "./pants package src/python/tessera/${{ matrix.service }}:image" in build


def test_workflows_pass_actionlint() -> None:
    problems = actionlint(*map(str, WORKFLOWS))
    assert problems == [], "\n".join(f"{p['filepath']}:{p['line']}: {p['message']}" for p in problems)


def test_actionlint_does_catch_a_broken_workflow(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text(
        "on: push\njobs:\n  a:\n    runs-on: ubuntu-24.04\n    steps:\n      - run: echo ${{ foo.bar }}\n"
    )
    assert actionlint(str(broken)), "actionlint found nothing wrong in a broken workflow"


@pytest.fixture(scope="module")
def compose_stack(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("compose")
    for path, content in compose.rendered(registry(), compose.INFRASTRUCTURE.read_text()).items():
        (out / path).parent.mkdir(parents=True, exist_ok=True)
        (out / path).write_text(content)
    return out


def test_workflows_match_their_published_schema() -> None:
    _check_schema("vendor.github-workflows", [str(p) for p in WORKFLOWS])


def test_the_compose_stack_matches_the_compose_specification(compose_stack: Path) -> None:
    _check_schema("vendor.compose-spec", [str(compose_stack / "docker-compose.yaml")])


def _check_schema(schema: str, files: list[str]) -> None:
    checked = subprocess.run(
        [sys.executable, "-m", check_jsonschema.__name__, "--builtin-schema", schema, *files],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_compose_runs_every_registered_service_hardened_with_its_stores_callees_and_observability(
    compose_stack: Path,
) -> None:
    services = yaml.safe_load((compose_stack / "docker-compose.yaml").read_text())["services"]
    assert {"postgres", "redis", "kafka", "mongo", "jaeger", "prometheus", "grafana", "kong"} <= set(services)
    ours = {name: s for name, s in services.items() if str(s.get("image", "")).startswith("tessera/")}
    assert list(ours) == registry().names
    for service in registry().services:
        block = ours[service.name]
        env = block["environment"]
        assert block["read_only"] is True and block["user"] == "10001:10001", service.name
        assert env["TESSERA_SERVICE_NAME"] == service.name
        targets = json.loads(env.get("TESSERA_TARGETS", "{}"))
        assert targets == registry().targets(service.name, lambda callee: f"{callee}:50051"), service.name
        assert set(block["depends_on"]) == {*service.stores, *service.calls}, service.name
        assert ("TESSERA_HTTP_PORT" in env) == service.http
    assert services["kong"]["depends_on"] == [s.name for s in registry().services if s.http]
    scraped = yaml.safe_load((compose_stack / "prometheus.yml").read_text())["scrape_configs"][0]["static_configs"]
    assert [target["labels"]["service"] for target in scraped] == registry().names
    databases = (compose_stack / "postgres-init.sql").read_text()
    assert [s.name for s in registry().services if f"CREATE DATABASE {s.name};" in databases] == [
        s.name for s in registry().services if s.uses("postgres")
    ]
    # FerretDB's database gets the indexes for its filters the local one has (tessera.localinfra.mongo).
    assert f"CREATE DATABASE {FERRETDB_DATABASE};\n\\connect {FERRETDB_DATABASE}\n{FILTER_INDEX_SQL}" in databases
    assert {p.stem for p in (compose_stack / "dashboards").glob("*.json")} == {"overview", *registry().names}
    # Its mounts of committed files resolve from .tessera/compose, where the tool writes the stack.
    mounts = [v.split(":")[0] for s in services.values() for v in s.get("volumes", []) if v.startswith("../../")]
    assert mounts and all((compose.OUT_DIR / mount).resolve().exists() for mount in mounts), mounts


class _Tilt:
    """Tilt's functions that the Tiltfile calls, recording what it asks for."""

    def __init__(self) -> None:
        self.builds: list[str] = []
        self.resources: dict[str, dict[str, Any]] = {}

    def functions(self) -> dict[str, Any]:
        return {
            "read_yaml": lambda path: yaml.safe_load(Path(path).read_text()),
            "custom_build": lambda ref, command, deps: self.builds.append(ref),
            "local": lambda command: None,
            "helm": lambda chart, **options: (chart, options),
            "k8s_yaml": lambda rendered: None,
            "k8s_resource": lambda name, **options: self.resources.__setitem__(name, options),
        }


def test_the_tiltfile_builds_and_deploys_every_registered_service() -> None:
    tilt = _Tilt()
    exec(compile(Path("Tiltfile").read_text(), "Tiltfile", "exec"), tilt.functions())  # Starlark is Python here
    assert tilt.builds == [f"ghcr.io/tessera-platform/{name}" for name in registry().names]
    assert set(tilt.resources) == {f"tessera-{name}" for name in registry().names}
    forwarded = {name for name, options in tilt.resources.items() if options.get("port_forwards")}
    assert forwarded == {f"tessera-{s.name}" for s in registry().services if s.http}
