"""A throwaway PostgreSQL server for the DuckLake tests: Debian's binaries, a temporary folder, a free
localhost port, trust authentication. PostgreSQL refuses to run as root, so as root it runs as the
`postgres` system user."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ports import free_port

USER = "likra"


def find_bin_dir() -> Path | None:
    """The folder holding initdb, pg_ctl and createdb: on PATH, else Debian's /usr/lib/postgresql/<version>/bin."""
    for folder in [os.path.dirname(shutil.which("initdb") or "")] + sorted(
        glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(p.split("/")[-2]), reverse=True
    ):
        if folder and all((Path(folder) / tool).exists() for tool in ("initdb", "pg_ctl", "createdb")):
            return Path(folder)
    return None


@dataclass
class PostgresServer:
    """A running server; `database()` makes a fresh database and returns its libpq connection string."""

    bin_dir: Path
    folder: Path
    port: int
    as_user: list[str]
    _count: int = 0

    def _run(self, *command: str) -> None:
        done = subprocess.run([*self.as_user, *command], capture_output=True, text=True, timeout=120, check=False)
        if done.returncode:
            raise RuntimeError(f"{command[0]} failed: {done.stdout}{done.stderr}")

    def database(self, prefix: str = "lake") -> str:
        self._count += 1
        name = f"{prefix}_{self._count}"
        self._run(str(self.bin_dir / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", USER, name)
        return f"dbname={name} host=127.0.0.1 port={self.port} user={USER}"

    def stop(self) -> None:
        subprocess.run(
            [*self.as_user, str(self.bin_dir / "pg_ctl"), "-D", str(self.folder / "data"), "-m", "fast", "-w", "stop"],
            capture_output=True,
            timeout=120,
            check=False,
        )
        shutil.rmtree(self.folder, ignore_errors=True)


def start_server(bin_dir: Path) -> PostgresServer:
    """initdb in a new temporary folder and start the server on a free port (as `postgres` when root)."""
    folder = Path(tempfile.mkdtemp(prefix="likra-pg-"))
    as_user: list[str] = []
    if os.geteuid() == 0:
        owner = pwd.getpwnam("postgres")
        os.chown(folder, owner.pw_uid, owner.pw_gid)
        as_user = ["runuser", "-u", "postgres", "--"]
    server = PostgresServer(bin_dir, folder, free_port(), as_user)
    try:
        server._run(
            str(bin_dir / "initdb"), "-D", str(folder / "data"), "-U", USER, "--auth=trust", "-E", "UTF8", "--no-sync"
        )
        server._run(
            str(bin_dir / "pg_ctl"),
            "-D",
            str(folder / "data"),
            "-l",
            str(folder / "server.log"),
            "-w",
            "-o",
            f"-p {server.port} -h 127.0.0.1 -k {folder} -c fsync=off -c max_connections=200",
            "start",
        )
    except BaseException:
        server.stop()
        raise
    return server
