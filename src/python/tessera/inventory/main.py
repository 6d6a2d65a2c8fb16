"""Entry point of the inventory service: `./pants run src/python/tessera/inventory:inventory`."""

from tessera.inventory.bootstrap import SPEC
from tessera.kit.service import run


def main() -> None:
    run(SPEC)


if __name__ == "__main__":
    main()
