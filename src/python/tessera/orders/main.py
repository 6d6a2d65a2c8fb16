"""Entry point of the orders service: `./pants run src/python/tessera/orders:orders`."""

from __future__ import annotations

from tessera.kit.runtime import serve
from tessera.orders.bootstrap import start_orders
from tessera.orders.config import OrdersSettings


def main() -> None:
    serve(OrdersSettings, start_orders)


if __name__ == "__main__":
    main()
