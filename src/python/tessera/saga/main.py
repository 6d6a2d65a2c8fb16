"""Entry point of the saga service: `./pants run src/python/tessera/saga:saga`."""

from __future__ import annotations

from tessera.kit.runtime import serve
from tessera.saga.bootstrap import start_saga
from tessera.saga.config import SagaSettings


def main() -> None:
    serve(SagaSettings, start_saga)


if __name__ == "__main__":
    main()
