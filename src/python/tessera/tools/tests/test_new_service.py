"""The service generator on a scratch copy of the repository's registry and formatter settings.

What it writes is held to the platform's own checks in CI (.ci/run generates a service in a scratch clone, then
lints it, runs its tests, the chart's and the local stack's); here: what it refuses, and what it writes where.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tessera import topology
from tessera.tools import new_service


@pytest.fixture
def root(tmp_path: Path) -> Path:
    for name in (str(topology.REGISTRY_FILE), "ruff.toml", "pyproject.toml"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(name, tmp_path / name)
    return tmp_path


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("Shipping", "lowercase"),
        ("ship-ping", "lowercase"),
        ("x", "lowercase"),
        ("class", "lowercase"),  # a Python keyword cannot be a package
        ("kit", "platform's own package"),
        ("catalog", "already a service"),
    ],
)
def test_a_name_that_cannot_be_a_service_is_refused_and_nothing_is_written(root: Path, name: str, why: str) -> None:
    before = (root / topology.REGISTRY_FILE).read_text()
    with pytest.raises(new_service.Refused, match=why):
        new_service.write(name, root)
    assert (root / topology.REGISTRY_FILE).read_text() == before
    assert not (root / "src").exists()


def test_a_service_is_two_new_folders_and_one_registry_entry(root: Path) -> None:
    before = (root / topology.REGISTRY_FILE).read_text()
    written = new_service.write("shipping", root)
    after = (root / topology.REGISTRY_FILE).read_text()
    assert after.startswith(before) and after[len(before) :] == new_service.registry_entry("shipping")
    entry = topology.parse(after)["shipping"]
    assert (entry.grpc_api, entry.stores, entry.calls) == ("shipping.v1.ShippingService", ("postgres", "kafka"), ())
    folders = {path.parts[:3] if path.parts[1] == "protos" else path.parts[:4] for path in written[:-1]}
    assert folders == {("src", "protos", "shipping"), ("src", "python", "tessera", "shipping")}
    assert (root / "src/python/tessera/shipping/BUILD").read_text().strip().endswith("tessera_service()")
    assert (root / "src/protos/shipping/v1/BUILD").read_text().strip() == "protobuf_sources(grpc=True)"
    proto = (root / "src/protos/shipping/v1/shipping.proto").read_text()
    assert "package shipping.v1;" in proto and "service ShippingService" in proto
    for path in written:
        if path.suffix == ".py":
            compile((root / path).read_text(), str(path), "exec")  # valid Python, every placeholder filled
        text = (root / path).read_text()
        assert "${" not in text and "$name" not in text and "$Name" not in text, path  # no placeholder left
    with pytest.raises(new_service.Refused, match="already a service"):
        new_service.write("shipping", root)
