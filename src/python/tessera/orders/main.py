"""Entry point of the orders service: `./pants run src/python/tessera/orders:orders`."""

from tessera.kit.service import run
from tessera.orders.bootstrap import SPEC


def main() -> None:
    run(SPEC)


if __name__ == "__main__":
    main()
