"""`python -m tessera.localinfra`: start the three servers, print their endpoints as env vars, run until Ctrl-C."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path

from tessera.localinfra.stack import LocalInfra


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dir", type=Path, help="keep the servers' data here (default: a temp dir, removed on exit)")
    args = parser.parse_args(argv)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    infra = LocalInfra(args.dir)
    endpoints = infra.start()
    try:
        for name, value in endpoints.as_env().items():
            print(f"export {name}={value}")
        timings = ", ".join(f"{k} {v:.2f}s" for k, v in infra.startup_seconds.items())
        print(f"# started in: {timings}", flush=True)
        stop.wait()
    finally:
        infra.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
