"""Entry point of the gateway service: `./pants run src/python/tessera/gateway:gateway`."""

from __future__ import annotations

from tessera.gateway.bootstrap import start_gateway
from tessera.gateway.config import GatewaySettings
from tessera.kit.runtime import serve


def main() -> None:
    serve(GatewaySettings, start_gateway)


if __name__ == "__main__":
    main()
