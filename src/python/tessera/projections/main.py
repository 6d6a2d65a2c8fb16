"""Entry point of the projections service: `./pants run src/python/tessera/projections:projections`."""

from tessera.kit.service import run
from tessera.projections.bootstrap import SPEC


def main() -> None:
    run(SPEC)


if __name__ == "__main__":
    main()
