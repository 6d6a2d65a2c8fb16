"""Writes a new service's skeleton: its contract, code, migration and tests, and its entry in the registry.

    ./pants run src/python/tessera/tools:new-service -- shipping

The skeleton is a working service in the platform's shape (one aggregate, "Item", with create, read and a
versioned rename; its events through the kit's outbox): its tests pass at once, the local stack starts it, and
the chart, compose, Tilt, the dashboards and the CI matrix pick it up from the registry entry. Only two new
folders (src/protos/<name>/, src/python/tessera/<name>/) and one entry in helm/tessera/services.yaml change.
"""

from __future__ import annotations

import argparse
import keyword
import re
import subprocess
import sys
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from string import Template

from tessera import topology

TEMPLATES = resources.files("tessera.tools") / "templates" / "service"
# Folders of src/python/tessera that are not services: a service may not take their names.
RESERVED = {"kit", "tools", "testing", "localinfra", "localstack", "localcluster", "topology", "environments"}


class Refused(Exception):
    """The name cannot be a new service; the message says why."""


def check_name(name: str, root: Path) -> None:
    if not re.fullmatch(topology.SERVICE_NAME, name) or keyword.iskeyword(name):
        raise Refused(f"{name!r}: a service name is 2-31 lowercase letters and digits, starting with a letter")
    if name in RESERVED:
        raise Refused(f"{name!r} is taken by the platform's own package src/python/tessera/{name}")
    registry = topology.parse((root / topology.REGISTRY_FILE).read_text())
    if name in registry.names:
        raise Refused(f"{name!r} is already a service in {topology.REGISTRY_FILE}")
    for folder in (root / "src/python/tessera" / name, root / "src/protos" / name):
        if folder.exists():
            raise Refused(f"{folder} exists already")


def _files(folder: Traversable, prefix: Path) -> list[tuple[Path, str]]:
    found: list[tuple[Path, str]] = []
    for entry in folder.iterdir():
        if entry.is_dir():
            found += _files(entry, prefix / entry.name)
        elif entry.name.endswith(".tmpl"):
            found.append((prefix / entry.name.removesuffix(".tmpl"), entry.read_text()))
    return found


def rendered(name: str) -> dict[Path, str]:
    """Every file of the skeleton, relative to the repository root, with its content."""
    words = {"name": name, "Name": name.capitalize()}
    places = {"protos": Path("src/protos") / name / "v1", "python": Path("src/python/tessera") / name}
    files = {}
    for part, target in places.items():
        for relative, text in _files(TEMPLATES / part, Path()):
            # (A template of a BUILD file is named __BUILD__: Pants would read BUILD.* as one of its own.)
            path = target / str(relative).replace("__name__", name).replace("__BUILD__", "BUILD")
            files[path] = Template(text).substitute(words)
    return files


def registry_entry(name: str) -> str:
    return (
        f"  {name}:\n"
        f"    grpcApi: {name}.v1.{name.capitalize()}Service\n"
        "    stores: [postgres, kafka]\n"
        f"    publishes: {name}.item.v1\n"
        "    panels: [grpc, outbox]\n"
    )


def write(name: str, root: Path) -> list[Path]:
    check_name(name, root)
    files = rendered(name)
    registry_file = root / topology.REGISTRY_FILE
    text = registry_file.read_text()
    updated = text + ("" if text.endswith("\n") else "\n") + registry_entry(name)
    topology.parse(updated)  # refuses (ValueError) before anything is written
    for path, content in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(content)
    registry_file.write_text(updated)
    _format(root, [root / path for path in files if path.suffix == ".py"])
    return [*files, topology.REGISTRY_FILE]


def _format(root: Path, paths: list[Path]) -> None:
    """The repository's own formatters (its configs), as `./pants fmt` runs them: where `tessera.<name>` sorts
    among the imports, and how long a line gets, depend on the name."""
    for tool in (["ruff", "check", "--fix", "--exit-zero", "--quiet", "--config", str(root / "ruff.toml")],
                 ["black", "--quiet", "--config", str(root / "pyproject.toml")]):  # fmt: skip
        subprocess.run([sys.executable, "-m", *tool, *map(str, paths)], check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("name", help="the service's name: lowercase letters and digits, e.g. shipping")
    parser.add_argument("--root", type=Path, default=Path.cwd(), help="the repository root (default: here)")
    args = parser.parse_args()
    try:
        written = write(args.name, args.root)
    except Refused as refused:
        sys.exit(f"new-service: {refused}")
    for path in written:
        print(f"wrote {path}")
    print(
        f"\nNext: ./pants test src/python/tessera/{args.name}::   (its tests pass as they are)\n"
        "      ./pants run src/python/tessera/localstack:up        (the stack starts it with the others)\n"
        f"Then rename Item in src/protos/{args.name}/v1/ and grow the domain: see README, 'Adding a service'."
    )


if __name__ == "__main__":
    main()
