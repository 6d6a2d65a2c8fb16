"""The flag file provider: defaults without a file, values from the file, changes picked up without a restart."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from openfeature import api

from tessera.kit.flags import OpenFeatureFlags, configure_flags


def _write(path: Path, default: str, targeting: dict[str, object] | None = None) -> None:
    flag: dict[str, object] = {"state": "ENABLED", "variants": {"on": True, "off": False}, "defaultVariant": default}
    if targeting:
        flag["targeting"] = targeting
    previous = path.stat().st_mtime if path.exists() else 0.0
    # Replaced whole, as Kubernetes swaps a mounted ConfigMap: the provider's poll never reads a half-written file.
    written = path.with_name(path.name + ".new")
    written.write_text(json.dumps({"flags": {"demo.enabled": flag}}))
    # The provider reloads on a newer mtime: two writes within one timestamp tick would look like one.
    newer = max(written.stat().st_mtime, previous + 1.0)
    os.utime(written, (newer, newer))
    os.replace(written, path)


@pytest.fixture(autouse=True)
def _no_provider_left() -> Iterator[None]:
    yield
    api.shutdown()
    api.clear_providers()


def _wait_for(flags: OpenFeatureFlags, expected: bool, **kwargs: str) -> None:
    deadline = time.monotonic() + 5
    while flags.enabled("demo.enabled", not expected, **kwargs) != expected:
        assert time.monotonic() < deadline, f"demo.enabled never became {expected}"
        time.sleep(0.05)


def test_without_a_file_flags_take_the_code_default() -> None:
    configure_flags(None)
    flags = OpenFeatureFlags()
    assert flags.enabled("demo.enabled", True) is True
    assert flags.enabled("demo.enabled", False) is False


def test_values_come_from_the_file_and_follow_its_changes(tmp_path: Path) -> None:
    path = tmp_path / "flags.json"
    _write(path, "off")
    configure_flags(str(path), poll_ms=100)
    flags = OpenFeatureFlags()
    _wait_for(flags, False)

    _write(path, "on")
    _wait_for(flags, True)

    # Targeting: off for everyone but the listed customers.
    _write(path, "off", {"if": [{"in": [{"var": "targetingKey"}, ["vip"]]}, "on", "off"]})
    _wait_for(flags, False, targeting_key="someone")
    assert flags.enabled("demo.enabled", False, targeting_key="vip") is True


def test_an_unknown_flag_or_a_broken_file_falls_back_to_the_default(tmp_path: Path) -> None:
    path = tmp_path / "flags.json"
    _write(path, "on")
    configure_flags(str(path), poll_ms=100)
    flags = OpenFeatureFlags()
    _wait_for(flags, True)
    assert flags.enabled("no.such.flag", False) is False

    path.write_text("{ not json")
    time.sleep(0.3)  # the provider keeps the last good flags when the new file cannot be parsed
    assert flags.enabled("demo.enabled", False) is True
