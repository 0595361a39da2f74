"""Opening the warehouse: read-write with migrations applied, or read-only and sandboxed."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path

import duckdb

from warehouse.errors import WarehouseError
from warehouse.paths import resolve_db_path

_MIGRATION_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


def _migrations() -> list[tuple[int, str, str]]:
    """(version, file name, SQL) for every migration shipped with the package, in order."""
    found = []
    for entry in resources.files("warehouse.migrations").iterdir():
        match = _MIGRATION_NAME.match(entry.name)
        if match:
            found.append((int(match.group(1)), entry.name, entry.read_text(encoding="utf-8")))
    return sorted(found)


def schema_version(con: duckdb.DuckDBPyConnection) -> int:
    """The highest migration applied to this database (0 for an empty file)."""
    exists = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = 'schema_migrations'"
    ).fetchone()[0]
    if not exists:
        return 0
    return con.execute("SELECT coalesce(max(version), 0) FROM schema_migrations").fetchone()[0]


def latest_version() -> int:
    """The schema version this code expects."""
    return _migrations()[-1][0]


def migrate(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Apply pending migrations, each in its own transaction; returns the names applied."""
    con.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations "
        "(version INTEGER PRIMARY KEY, name VARCHAR NOT NULL, applied_at TIMESTAMP NOT NULL)"
    )
    current = schema_version(con)
    applied = []
    for version, name, sql in _migrations():
        if version <= current:
            continue
        with transaction(con):
            con.execute(sql)
            con.execute(
                "INSERT INTO schema_migrations VALUES (?, ?, now()::TIMESTAMP)", [version, name]
            )
        applied.append(name)
    return applied


LOCK_WAIT_SECONDS = float(os.environ.get("LIKRA_LOCK_WAIT", "15"))


_DUCKDB_MAGIC = b"DUCK"  # bytes 8-11 of every DuckDB database file


def _check_is_duckdb(path: Path) -> None:
    """Refuse a --db that exists but is not a DuckDB file, before DuckDB guesses (it would load sqlite_scanner)."""
    if path.is_dir():
        raise WarehouseError(f"warehouse {path} is a folder, not a DuckDB warehouse file; point --db at a file")
    if not path.exists():
        return
    with path.open("rb") as handle:
        head = handle.read(16)
    if head[8:12] != _DUCKDB_MAGIC:
        kind = "a SQLite database" if head.startswith(b"SQLite format 3") else "empty" if not head else "another kind of file"
        raise WarehouseError(f"{path} is not a DuckDB warehouse (it is {kind}); point --db at a warehouse "
                             "made by likra, or at a new file name to create one")


def _check_parent(path: Path) -> None:
    """Refuse a --db under a regular file, which no folder can be made in."""
    for parent in path.absolute().parents:
        if parent.exists():
            if not parent.is_dir():
                raise WarehouseError(f"warehouse {path} cannot be there: its parent {parent} is a file, "
                                     "not a folder; choose another --db path")
            return


def _check_version(con: duckdb.DuckDBPyConnection, path: Path) -> int:
    """The warehouse's schema version; one from a newer toolkit is refused rather than misread."""
    version = schema_version(con)
    if version > latest_version():
        con.close()
        raise WarehouseError(f"warehouse {path} has schema version {version}, newer than this toolkit "
                             f"({latest_version()}): upgrade likra-toolkit")
    return version


def _open(path: Path, read_only: bool, config: dict | None = None) -> duckdb.DuckDBPyConnection:
    _check_is_duckdb(path)
    # Another process's write is usually short (pipeline writers hold the file only to write), so wait a little.
    deadline = time.monotonic() + LOCK_WAIT_SECONDS
    delay = 0.05
    while True:
        try:
            return duckdb.connect(str(path), read_only=read_only, config=config or {})
        except duckdb.IOException as exc:
            if "lock" not in str(exc).lower():
                raise WarehouseError(f"cannot open warehouse {path}: {exc}") from exc
            if time.monotonic() + delay > deadline:
                raise WarehouseError(
                    f"warehouse {path} is locked by another process (DuckDB allows one writer, and no reader "
                    "beside it: a `likra sql` query holds the file until it ends or its --timeout); "
                    "wait for it to finish or stop it, then retry"
                ) from exc
            time.sleep(delay)
            delay = min(delay * 2, 1.0)


def connect(db: str | os.PathLike[str] | None = None) -> duckdb.DuckDBPyConnection:
    """Open the warehouse read-write, creating it if needed and applying pending migrations."""
    path = resolve_db_path(db)
    _check_parent(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    con = _open(path, read_only=False)
    _check_version(con, path)
    migrate(con)
    return con


def connect_read_only(
    db: str | os.PathLike[str] | None = None, *, sandbox: bool = False
) -> duckdb.DuckDBPyConnection:
    """Open an existing warehouse read-only; `sandbox` also disables access to any other file."""
    path = resolve_db_path(db)
    _check_parent(path)
    if not path.exists():
        raise WarehouseError(
            f"no warehouse at {path}: ingest a benchmark first (`likra ingest demo`), "
            "or point --db / LIKRA_DB at an existing file"
        )
    config = {"enable_external_access": False, "lock_configuration": True} if sandbox else None
    con = _open(path, read_only=True, config=config)
    version = _check_version(con, path)
    if version < latest_version():
        con.close()
        raise WarehouseError(
            f"warehouse {path} has schema version {version}, this code needs "
            f"{latest_version()}: open it once read-write (any `likra ingest`) to migrate it"
        )
    return con


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """BEGIN ... COMMIT, rolled back on any exception so the previous state stays intact."""
    con.execute("BEGIN TRANSACTION")
    try:
        yield con
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")
