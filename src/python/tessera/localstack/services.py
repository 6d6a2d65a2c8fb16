"""The services the local stack runs, and how each is started and checked."""

from __future__ import annotations

from dataclasses import dataclass, field
from types import ModuleType

from tessera.catalog import main as catalog_main


@dataclass(frozen=True)
class ServiceSpec:
    name: str
    main_module: ModuleType  # imported, so Pants packages it with the stack
    health_service: str  # the gRPC service whose health says "ready"
    needs: frozenset[str] = field(default_factory=lambda: frozenset({"postgres", "redis", "kafka"}))


SERVICES: list[ServiceSpec] = [
    ServiceSpec("catalog", catalog_main, "catalog.v1.CatalogService"),
]
