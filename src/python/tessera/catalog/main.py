"""Entry point of the catalog service: `./pants run src/python/tessera/catalog:catalog`."""

from __future__ import annotations

from tessera.catalog.bootstrap import start_catalog
from tessera.catalog.config import CatalogSettings
from tessera.kit.runtime import serve


def main() -> None:
    serve(CatalogSettings, start_catalog)


if __name__ == "__main__":
    main()
