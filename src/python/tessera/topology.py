"""The platform's services as declared once, in the chart's `services.yaml`: read here for Python.

The Helm templates read the same file, so the chart, the local stack, compose, Tilt, the dashboards and the tests
cannot disagree about who the services are and who calls whom.
"""

from __future__ import annotations

import functools
import importlib.resources
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

# Relative to the repository root; tests get it in their sandbox through the `//helm:registry` dependency, and
# every PEX carries it as the resource `tessera/services.yaml` (the `/helm` source root), so a service in its pod
# reads its own entry from the same file.
REGISTRY_FILE = Path("helm/tessera/services.yaml")
Store = Literal["postgres", "redis", "kafka", "mongo"]
Panel = Literal["grpc", "http", "client", "cache", "outbox", "lag", "saga"]
SERVICE_NAME = r"^[a-z][a-z0-9]{1,30}$"  # a DNS label, a database name and a Python package name at once
TOPIC_NAME = r"^[a-z][a-z0-9]*(\.[a-z0-9_]+)*\.v[0-9]+$"  # <service>.<aggregate>.v<major>: a new major, a new topic


class Service(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    name: str = Field(pattern=SERVICE_NAME)
    calls: tuple[str, ...] = ()  # the services it calls
    stores: tuple[Store, ...] = ()
    publishes: str = Field(default="", pattern=f"({TOPIC_NAME})?")  # the topic its outbox relays its events to
    consumes: tuple[str, ...] = ()  # the services whose topics it reads
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
    def _name_declared_services(self) -> Registry:
        names = {s.name for s in self.services}
        publishers = {s.name for s in self.services if s.publishes}
        for service in self.services:
            if unknown := set(service.calls) - names:
                raise ValueError(f"{service.name} calls {sorted(unknown)}, which {REGISTRY_FILE} does not declare")
            if silent := set(service.consumes) - publishers:
                raise ValueError(f"{service.name} consumes {sorted(silent)}, which publish no topic")
            if (service.publishes or service.consumes) and not service.uses("kafka"):
                raise ValueError(f"{service.name} publishes or consumes a topic: its stores must include kafka")
        return self

    @property
    def names(self) -> list[str]:
        return [s.name for s in self.services]

    def __getitem__(self, name: str) -> Service:
        for service in self.services:
            if service.name == name:
                return service
        raise KeyError(f"{name!r}: no such service in {REGISTRY_FILE}")

    def callers(self, name: str) -> list[str]:
        return sorted(s.name for s in self.services if name in s.calls)

    def topic_of(self, name: str) -> str:
        """The topic the service `name` publishes (its unprefixed name)."""
        if not (topic := self[name].publishes):
            raise KeyError(f"{name} publishes no topic ({REGISTRY_FILE}: services.{name}.publishes)")
        return topic

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
    """TESSERA_REGISTRY, else services.yaml under the working directory or the nearest parent holding it (the
    repository, as edited), else the copy packaged with the code (a service in its image)."""
    if explicit := os.environ.get("TESSERA_REGISTRY"):
        return Path(explicit)
    here = Path.cwd().resolve()
    for directory in (here, *here.parents):
        if (directory / REGISTRY_FILE).is_file():
            return directory / REGISTRY_FILE
    packaged = Path(str(importlib.resources.files("tessera").joinpath(REGISTRY_FILE.name)))
    if packaged.is_file():
        return packaged
    raise FileNotFoundError(f"{REGISTRY_FILE} not found from {here}: run from the repository (or set TESSERA_REGISTRY)")


@functools.cache
def registry() -> Registry:
    return parse(registry_path().read_text())


def topic_of(service: str) -> str:
    """The topic `service` publishes, as the registry names it (a deployment adds its prefix)."""
    return registry().topic_of(service)
