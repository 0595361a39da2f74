"""Opening the warehouse: read-write with migrations applied, or read-only and sandboxed."""

from __future__ import annotations

import logging
import os
import re
import time
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path

import duckdb

from warehouse.errors import WarehouseError
from warehouse.paths import resolve_db_path

_MIGRATION_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")
log = logging.getLogger(__name__)
# The file each open connection is on, so that a failed write can name it.
_PATHS: weakref.WeakKeyDictionary[duckdb.DuckDBPyConnection, Path] = weakref.WeakKeyDictionary()


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
    # Another process's write is usually short (pipeline writers hold the file only to write), so wait a little,
    # and say so once: a command that stalls silently looks hung.
    deadline = time.monotonic() + LOCK_WAIT_SECONDS
    delay, said = 0.05, False
    while True:
        try:
            con = duckdb.connect(str(path), read_only=read_only, config=config or {})
            _PATHS[con] = path
            return con
        except duckdb.IOException as exc:
            if "lock" not in str(exc).lower():
                raise WarehouseError(f"cannot open warehouse {path}: {_cause(exc)}") from exc
            if time.monotonic() + delay > deadline:
                raise WarehouseError(
                    f"warehouse {path} is locked by another process (DuckDB allows one writer, and no reader "
                    "beside it: a `likra sql` query holds the file until it ends or its --timeout); "
                    f"waited {LOCK_WAIT_SECONDS:g} s ($LIKRA_LOCK_WAIT): wait for it to finish or stop it, then retry"
                ) from exc
            if not said:
                log.warning("waiting for the warehouse lock on %s, held by another process (up to %g s, "
                            "$LIKRA_LOCK_WAIT)...", path, LOCK_WAIT_SECONDS)
                said = True
            time.sleep(delay)
            delay = min(delay * 2, 1.0)


def _cause(exc: BaseException) -> str:
    """The part of a DuckDB or OS error that says what went wrong, on one line."""
    text = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    for prefix in ("TransactionContext Error: ", "Failed to commit: ", "IO Error: "):
        text = text.removeprefix(prefix)
    return " ".join(text.split())


# DuckDB's words for a file it could not create, grow or write: a full disk, a file size limit, a read-only
# file or folder. Such a failure is the user's to fix; any other failed write is a bug and stays a traceback.
_WRITE_REFUSED = ("could not write", "could not truncate", "could not fsync", "no space left", "file too large",
                  "read-only file system", "permission denied", "disk quota")


def _write_refused(exc: BaseException) -> bool:
    return isinstance(exc, duckdb.Error) and any(words in str(exc).lower() for words in _WRITE_REFUSED)


def connect(db: str | os.PathLike[str] | None = None) -> duckdb.DuckDBPyConnection:
    """Open the warehouse read-write, creating it if needed and applying pending migrations."""
    path = resolve_db_path(db)
    _check_parent(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise WarehouseError(f"cannot create the warehouse folder {path.parent}: {_cause(exc)}") from exc
    con = _open(path, read_only=False)
    _check_version(con, path)
    try:
        migrate(con)
    except BaseException:
        con.close()
        raise
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
    """BEGIN ... COMMIT, rolled back on any exception so the previous state stays intact.

    A write the file system refuses (a full disk, a file size limit, a read-only warehouse file or folder)
    raises WarehouseError naming the warehouse and the cause; nothing of the transaction is kept."""
    con.execute("BEGIN TRANSACTION")
    try:
        yield con
    except BaseException as exc:
        try:
            con.execute("ROLLBACK")
        except duckdb.Error:
            pass  # the failure invalidated the connection: nothing was committed, the error below says why
        if _write_refused(exc):
            raise _write_failed(con, exc) from exc
        raise
    try:
        con.execute("COMMIT")
    except duckdb.Error as exc:
        if _write_refused(exc):
            raise _write_failed(con, exc) from exc
        raise


def _write_failed(con: duckdb.DuckDBPyConnection, exc: BaseException) -> WarehouseError:
    where = _PATHS.get(con, "the warehouse")
    return WarehouseError(f"cannot write warehouse {where}: {_cause(exc)}; nothing was written (free disk space or "
                          "make the file and its folder writable, then retry)")
