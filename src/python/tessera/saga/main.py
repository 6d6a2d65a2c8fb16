"""Entry point of the saga service: `./pants run src/python/tessera/saga:saga`."""

from tessera.kit.service import run
from tessera.saga.bootstrap import SPEC


def main() -> None:
    run(SPEC)


if __name__ == "__main__":
    main()
