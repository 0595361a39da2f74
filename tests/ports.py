"""A free localhost port for the servers the tests start (PostgreSQL, Redis, dagster dev)."""

import socket


def free_port() -> int:
    """A TCP port nothing listens on now (the OS picks it; a race with another process is unlikely, not impossible)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
