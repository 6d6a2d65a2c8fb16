"""Entry point of the inventory service: `./pants run src/python/tessera/inventory:inventory`."""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack

from tessera.inventory.bootstrap import start_inventory
from tessera.inventory.config import InventorySettings
from tessera.kit.config import load_settings
from tessera.kit.runtime import run_service


def main() -> None:
    settings = load_settings(InventorySettings)

    async def start(stack: AsyncExitStack) -> None:
        await start_inventory(settings, stack)

    asyncio.run(run_service(settings, start))


if __name__ == "__main__":
    main()
