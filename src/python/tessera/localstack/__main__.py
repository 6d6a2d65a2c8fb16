"""`./pants run src/python/tessera/localstack:up`: the whole platform locally, until Ctrl-C."""

from __future__ import annotations

import argparse
import asyncio
import signal
from pathlib import Path

from tessera.localstack.stack import run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--state-dir", type=Path, default=Path(".tessera"), help="data, ports and logs (kept)")
    parser.add_argument("--empty", action="store_true", help="no demo products in the catalog")
    args = parser.parse_args()

    async def serve() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await run(args.state_dir.resolve(), stop, demo=not args.empty)

    asyncio.run(serve())


if __name__ == "__main__":
    main()
