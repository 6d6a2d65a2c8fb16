"""Entry point of the payments service: `./pants run src/python/tessera/payments:payments`."""

from __future__ import annotations

from tessera.kit.runtime import serve
from tessera.payments.bootstrap import start_payments
from tessera.payments.config import PaymentsSettings


def main() -> None:
    serve(PaymentsSettings, start_payments)


if __name__ == "__main__":
    main()
