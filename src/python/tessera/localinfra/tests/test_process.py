"""Free ports for the servers tests start: never one an outgoing connection can take meanwhile."""

import socket
from pathlib import Path

from tessera.localinfra.process import free_port


def test_free_ports_are_bindable_distinct_and_below_the_ephemeral_range() -> None:
    ephemeral_start = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    ports = [free_port() for _ in range(500)]
    assert len(set(ports)) == len(ports)
    assert all(port < min(ephemeral_start, 30_000) for port in ports)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", ports[0]))
        taken.listen()
        with socket.create_connection(("127.0.0.1", ports[0])) as client:
            # A connection's source port comes from the ephemeral range, never from free_port's.
            assert client.getsockname()[1] >= ephemeral_start
