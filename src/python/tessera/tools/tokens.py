"""Prints a bearer token that the running stack accepts, signed by its development issuer.

./pants --no-pantsd run src/python/tessera/tools:token -- --customer c-1     acts for customer c-1
./pants --no-pantsd run src/python/tessera/tools:token -- --admin            manages the catalog and stock
./pants --no-pantsd run src/python/tessera/tools:token -- --cluster ...      for the local Kubernetes
./pants --no-pantsd run src/python/tessera/tools:token -- --chart-values     the chart's `auth` values (Tilt)

    curl -H "Authorization: Bearer $(./pants --no-pantsd run src/python/tessera/tools:token -- --customer c-1)" ...
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from tessera.localinfra.issuer import DevIssuer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    who = parser.add_mutually_exclusive_group(required=True)
    who.add_argument("--customer", help="the customer id the token acts for")
    who.add_argument("--admin", action="store_true", help="a token with the admin scope")
    who.add_argument(
        "--chart-values", action="store_true", help="print the chart's `auth` values for this issuer (JSON)"
    )
    parser.add_argument("--ttl", type=int, default=3600, help="seconds until it expires (default 3600)")
    parser.add_argument("--state-dir", type=Path, default=Path(".tessera"), help="the local stack's state directory")
    parser.add_argument("--cluster", action="store_true", help="for the local cluster (localcluster:up)")
    args = parser.parse_args()
    if args.ttl <= 0:
        parser.error("--ttl must be positive")
    if args.customer is not None and not 0 < len(args.customer) <= 64:
        parser.error("--customer must have 1 to 64 characters")
    key_dir = args.state_dir / ("cluster" if args.cluster else "") / "issuer"
    if args.chart_values:  # e.g. for the Tiltfile's cluster: the key is made on first use
        print(json.dumps({"auth": DevIssuer(key_dir).chart_values()}, indent=1))
        return
    if not (key_dir / "signing-key.pem").exists():
        where = "localcluster:up" if args.cluster else "localstack:up"
        parser.error(f"no issuer key in {key_dir}: start the platform first ({where}) with this state directory")
    issuer = DevIssuer(key_dir)
    token = (
        issuer.admin_token(ttl_seconds=args.ttl)
        if args.admin
        else issuer.customer_token(args.customer, ttl_seconds=args.ttl)
    )
    print(token)


if __name__ == "__main__":
    main()
