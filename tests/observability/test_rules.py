"""Alert rules and dashboards as code: valid for promtool, unit-tested alerts, and in sync with their generator."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tessera.localinfra import install
from tessera.tools import dashboards
from tessera.topology import registry

RULES = Path("helm/tessera/files/prometheus/alerts.json")


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    _, tool = install.prometheus()
    return subprocess.run([tool, *args], capture_output=True, text=True, check=False)


def test_promtool_accepts_the_alert_rules() -> None:
    checked = promtool("check", "rules", str(RULES))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    rules = sum(len(group["rules"]) for group in dashboards.alert_rules()["groups"])
    assert f"SUCCESS: {rules} rules found" in checked.stdout


def test_alerts_fire_when_and_only_when_their_unit_tests_say() -> None:
    tested = promtool("test", "rules", str(Path(__file__).parent / "alerts_test.yaml"))
    assert tested.returncode == 0, tested.stdout + tested.stderr


def test_committed_dashboards_and_rules_are_what_the_generator_writes() -> None:
    for path, content in dashboards.rendered().items():
        assert path.read_text() == content, f"{path} is stale: ./pants run src/python/tessera/tools:dashboards"


def _every_dashboard() -> dict[str, dict[str, object]]:
    overview = json.loads(Path("helm/tessera/files/grafana/overview.json").read_text())
    return {"overview": overview, **{s.name: dashboards.service_dashboard(s) for s in registry().services}}


def test_dashboards_have_a_datasource_variable_and_unique_panel_ids() -> None:
    every = _every_dashboard()
    assert set(every) == {"overview", *registry().names}
    for name, dashboard in every.items():
        assert [v["name"] for v in dashboard["templating"]["list"]] == ["datasource"], name  # type: ignore[index]
        panels: list[dict[str, object]] = dashboard["panels"]  # type: ignore[assignment]
        assert panels, f"{name}: no panels"
        ids = [p["id"] for p in panels]
        assert len(ids) == len(set(ids)) and all(p["targets"] for p in panels), name
