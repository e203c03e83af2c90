"""Free loopback ports for servers a test starts itself."""

from __future__ import annotations

import socket


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def free_port_pair() -> int:
    """A port p with p+1 also free (a local broker's controller listens on p+1)."""
    for _ in range(50):
        port = free_port()
        if port >= 65535:
            continue
        with socket.socket() as second:
            try:
                second.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
        return port
    raise RuntimeError("no free pair of ports on 127.0.0.1")


def free_port_run(count: int) -> int:
    """A port p with p+1 .. p+count-1 also free (a local Kafka cluster's nodes take a run)."""
    for _ in range(50):
        port = free_port()
        if port + count - 1 > 65535:
            continue
        taken = False
        for offset in range(1, count):
            with socket.socket() as other:
                try:
                    other.bind(("127.0.0.1", port + offset))
                except OSError:
                    taken = True
                    break
        if not taken:
            return port
    raise RuntimeError(f"no {count} free ports in a row on 127.0.0.1")
