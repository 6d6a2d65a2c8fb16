"""The services of the platform, and what each needs to start: its entry point and whom it calls."""

from __future__ import annotations

from dataclasses import dataclass, field
from types import ModuleType

from tessera.catalog import main as catalog_main
from tessera.gateway import main as gateway_main
from tessera.inventory import main as inventory_main
from tessera.orders import main as orders_main
from tessera.payments import main as payments_main
from tessera.projections import main as projections_main
from tessera.saga import main as saga_main


@dataclass(frozen=True)
class ServiceSpec:
    name: str
    main_module: ModuleType  # imported, so Pants packages it with the stack
    health_service: str  # the gRPC service whose health says "ready" ("" = the whole server)
    # Settings naming other services: TESSERA_<KEY> = 127.0.0.1:<that service's gRPC port>
    calls: dict[str, str] = field(default_factory=dict)
    uses_redis: bool = False
    http: bool = False  # serves HTTP on TESSERA_HTTP_PORT; ready when GET /readyz answers 200
    # Shows the whole platform's health: TESSERA_PLATFORM_TARGETS names every service it does not call.
    platform_view: bool = False


SERVICES: list[ServiceSpec] = [
    ServiceSpec("catalog", catalog_main, "catalog.v1.CatalogService", uses_redis=True),
    ServiceSpec("inventory", inventory_main, "inventory.v1.InventoryService"),
    ServiceSpec("payments", payments_main, "payments.v1.PaymentsService"),
    ServiceSpec("orders", orders_main, "orders.v1.OrdersService", calls={"CATALOG_TARGET": "catalog"}),
    ServiceSpec(
        "saga",
        saga_main,
        "",
        calls={"INVENTORY_TARGET": "inventory", "PAYMENTS_TARGET": "payments", "ORDERS_TARGET": "orders"},
    ),
    ServiceSpec("projections", projections_main, "readmodels.v1.ReadModelService"),
    ServiceSpec(
        "gateway",
        gateway_main,
        "",
        calls={
            "CATALOG_TARGET": "catalog",
            "ORDERS_TARGET": "orders",
            "READMODELS_TARGET": "projections",
            "INVENTORY_TARGET": "inventory",
            "PAYMENTS_TARGET": "payments",
        },
        uses_redis=True,
        http=True,
        platform_view=True,
    ),
]
BY_NAME = {spec.name: spec for spec in SERVICES}
