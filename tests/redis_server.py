"""A throwaway Redis server for the Celery test: Debian's `redis-server`, a temporary folder, a free localhost
port, nothing saved to disk."""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from ports import free_port


@dataclass
class RedisServer:
    """A running server; `url(n)` is the URL of its database n."""

    process: subprocess.Popen
    folder: Path
    port: int

    def url(self, database: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{database}"

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        shutil.rmtree(self.folder, ignore_errors=True)


def start_server(binary: str) -> RedisServer:
    """redis-server in the foreground on a free port, without persistence; returns once it answers PING."""
    folder = Path(tempfile.mkdtemp(prefix="likra-redis-"))
    port = free_port()
    log = (folder / "server.log").open("w")
    process = subprocess.Popen(
        [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(folder),
            "--save",
            "",
            "--appendonly",
            "no",
            "--protected-mode",
            "yes",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    server = RedisServer(process, folder, port)
    deadline = time.monotonic() + 30
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                if sock.recv(64).startswith(b"+PONG"):
                    return server
        except OSError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            server.stop()
            raise RuntimeError(f"redis-server did not start: {(folder / 'server.log').read_text()}")
        time.sleep(0.2)
