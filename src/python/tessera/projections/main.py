"""Entry point of the projections service: `./pants run src/python/tessera/projections:projections`."""

from __future__ import annotations

from tessera.kit.runtime import serve
from tessera.projections.bootstrap import start_projections
from tessera.projections.config import ProjectionsSettings


def main() -> None:
    serve(ProjectionsSettings, start_projections)


if __name__ == "__main__":
    main()
