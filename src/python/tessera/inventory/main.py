"""Entry point of the inventory service: `./pants run src/python/tessera/inventory:inventory`."""

from __future__ import annotations

from tessera.inventory.bootstrap import start_inventory
from tessera.inventory.config import InventorySettings
from tessera.kit.runtime import serve


def main() -> None:
    serve(InventorySettings, start_inventory)


if __name__ == "__main__":
    main()
