"""Entry point of the catalog service: `./pants run src/python/tessera/catalog:catalog`."""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack

from tessera.catalog.bootstrap import start_catalog
from tessera.catalog.config import CatalogSettings
from tessera.kit.config import load_settings
from tessera.kit.runtime import run_service


def main() -> None:
    settings = load_settings(CatalogSettings)

    async def start(stack: AsyncExitStack) -> None:
        await start_catalog(settings, stack)

    asyncio.run(run_service(settings, start))


if __name__ == "__main__":
    main()
