"""Alert rules and dashboards as code: valid for promtool, unit-tested alerts, and in sync with their generator."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tessera.localinfra import install
from tessera.tools import dashboards

RULES = Path("helm/tessera/files/prometheus/alerts.json")


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    _, tool = install.prometheus()
    return subprocess.run([tool, *args], capture_output=True, text=True, check=False)


def test_promtool_accepts_the_alert_rules() -> None:
    checked = promtool("check", "rules", str(RULES))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS: 7 rules found" in checked.stdout


def test_alerts_fire_when_and_only_when_their_unit_tests_say() -> None:
    tested = promtool("test", "rules", str(Path(__file__).parent / "alerts_test.yaml"))
    assert tested.returncode == 0, tested.stdout + tested.stderr


def test_committed_dashboards_and_rules_are_what_the_generator_writes() -> None:
    for path, content in dashboards.rendered().items():
        assert path.read_text() == content, f"{path} is stale: ./pants run src/python/tessera/tools:dashboards"


def test_dashboards_have_a_datasource_variable_and_unique_panel_ids() -> None:
    for path in Path("helm/tessera/files/grafana").glob("*.json"):
        dashboard = json.loads(path.read_text())
        assert [v["name"] for v in dashboard["templating"]["list"]] == ["datasource"]
        ids = [p["id"] for p in dashboard["panels"]]
        assert len(ids) == len(set(ids)) and all(p["targets"] for p in dashboard["panels"])
