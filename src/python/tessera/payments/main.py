"""Entry point of the payments service: `./pants run src/python/tessera/payments:payments`."""

from tessera.kit.service import run
from tessera.payments.bootstrap import SPEC


def main() -> None:
    run(SPEC)


if __name__ == "__main__":
    main()
