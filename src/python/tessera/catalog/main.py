"""Entry point of the catalog service: `./pants run src/python/tessera/catalog:catalog`."""

from tessera.catalog.bootstrap import SPEC
from tessera.kit.service import run


def main() -> None:
    run(SPEC)


if __name__ == "__main__":
    main()
