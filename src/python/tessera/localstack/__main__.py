"""`./pants run src/python/tessera/localstack:up`: the whole platform locally, until Ctrl-C."""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
from pathlib import Path

from tessera.localstack.stack import run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--state-dir", type=Path, default=Path(".tessera"), help="data, ports and logs (kept)")
    parser.add_argument("--empty", action="store_true", help="no demo products in the catalog")
    parser.add_argument(
        "--only", action="append", default=[], metavar="SERVICE", help="run just this service (repeatable)"
    )
    parser.add_argument(
        "--mock-others", action="store_true", help="with --only: the services they call are mocks of their contracts"
    )
    parser.add_argument(
        "--mock-answers",
        type=Path,
        help='JSON {"service": {"Method": {reply fields}}} for the mocks (default: each echoes its request)',
    )
    parser.add_argument(
        "--one-process",
        action="store_true",
        help="every service in one Python process (each with its own ports), not a process each",
    )
    args = parser.parse_args()

    async def serve() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        answers = json.loads(args.mock_answers.read_text()) if args.mock_answers else {}
        await run(
            args.state_dir.resolve(),
            stop,
            demo=not args.empty,
            only=args.only,
            mock_others=args.mock_others,
            mock_answers=answers,
            one_process=args.one_process,
        )

    asyncio.run(serve())


if __name__ == "__main__":
    main()
