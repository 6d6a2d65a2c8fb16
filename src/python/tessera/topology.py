"""The platform's services as declared once, in the chart's `services.yaml`: read here for Python.

The Helm templates read the same file, so the chart, the local stack, compose, Tilt, the dashboards and the tests
cannot disagree about who the services are and who calls whom.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

# Relative to the repository root; tests get it in their sandbox through the `//helm:registry` dependency.
REGISTRY_FILE = Path("helm/tessera/services.yaml")
Store = Literal["postgres", "redis", "kafka", "mongo"]
Panel = Literal["grpc", "http", "client", "cache", "outbox", "lag", "saga"]
SERVICE_NAME = r"^[a-z][a-z0-9]{1,30}$"  # a DNS label, a database name and a Python package name at once


class Service(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    name: str = Field(pattern=SERVICE_NAME)
    calls: tuple[str, ...] = ()  # the services it calls
    stores: tuple[Store, ...] = ()
    grpc_api: str = Field(default="", alias="grpcApi")
    http: bool = False
    platform_view: bool = Field(default=False, alias="platformView")
    panels: tuple[Panel, ...] = ()

    def uses(self, store: Store) -> bool:
        return store in self.stores


class Registry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    services: tuple[Service, ...]

    @model_validator(mode="after")
    def _calls_name_services(self) -> Registry:
        names = {s.name for s in self.services}
        for service in self.services:
            unknown = set(service.calls) - names
            if unknown:
                raise ValueError(f"{service.name} calls {sorted(unknown)}, which {REGISTRY_FILE} does not declare")
        return self

    @property
    def names(self) -> list[str]:
        return [s.name for s in self.services]

    def __getitem__(self, name: str) -> Service:
        for service in self.services:
            if service.name == name:
                return service
        raise KeyError(name)

    def callers(self, name: str) -> list[str]:
        return sorted(s.name for s in self.services if name in s.calls)

    def reached_by(self, name: str) -> list[str]:
        """The services `name` has addresses of: those it calls, then, with the platform view, every other one
        (asked only for its dependencies' health)."""
        service = self[name]
        if not service.platform_view:
            return list(service.calls)
        return [*service.calls, *(s.name for s in self.services if s.name not in (name, *service.calls))]

    def targets(self, name: str, address: Callable[[str], str]) -> dict[str, str]:
        """TESSERA_TARGETS of `name` (JSON in its environment): each service it reaches -> `address(service)`.
        The kit connects only to these, so a call the registry does not declare fails at start."""
        return {other: address(other) for other in self.reached_by(name)}


def parse(text: str) -> Registry:
    """The registry in `text` (the YAML of services.yaml); ValueError names what is wrong."""
    document = yaml.safe_load(text) or {}
    entries: Mapping[str, dict[str, Any]] = document.get("services") or {}
    try:
        services = tuple(Service.model_validate({"name": name, **(entry or {})}) for name, entry in entries.items())
        return Registry(services=services)
    except ValidationError as error:
        raise ValueError(f"{REGISTRY_FILE}: {error}") from None


def registry_path() -> Path:
    """TESSERA_REGISTRY, else services.yaml under the working directory or the nearest parent holding it."""
    if explicit := os.environ.get("TESSERA_REGISTRY"):
        return Path(explicit)
    here = Path.cwd().resolve()
    for directory in (here, *here.parents):
        if (directory / REGISTRY_FILE).is_file():
            return directory / REGISTRY_FILE
    raise FileNotFoundError(f"{REGISTRY_FILE} not found from {here}: run from the repository (or set TESSERA_REGISTRY)")


@functools.cache
def registry() -> Registry:
    return parse(registry_path().read_text())
