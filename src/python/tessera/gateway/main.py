"""Entry point of the gateway: `./pants run src/python/tessera/gateway:gateway`."""

from tessera.gateway.bootstrap import SPEC
from tessera.kit.service import run


def main() -> None:
    run(SPEC)


if __name__ == "__main__":
    main()
