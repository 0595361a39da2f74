"""Opening the warehouse: read-write with migrations applied, or read-only and sandboxed."""

from __future__ import annotations

import logging
import random
import re
import time
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from typing import TypeVar

import duckdb

from warehouse import ducklake
from warehouse.ducklake import is_damaged
from warehouse.env import env_int, env_number
from warehouse.errors import WarehouseError
from warehouse.location import DbRef, Location, resolve_location
from warehouse.paths import checked_output

_MIGRATION_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")
log = logging.getLogger(__name__)
# The warehouse each open connection is on, so that a failed write can name it and writes know the backend.
_LOCATIONS: weakref.WeakKeyDictionary[duckdb.DuckDBPyConnection, Location] = weakref.WeakKeyDictionary()
T = TypeVar("T")


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


def is_ducklake(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether this connection is on a DuckLake warehouse (else a DuckDB file)."""
    location = _LOCATIONS.get(con)
    return location is not None and location.is_ducklake


def migrate(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Apply pending migrations, each in its own transaction; returns the names applied.

    On DuckLake the constraints are left out (writers keep keys unique), and a migration another process
    applied at the same moment is a commit conflict: retried, it finds the migration done."""
    lake = is_ducklake(con)
    bootstrap = (
        "CREATE TABLE IF NOT EXISTS schema_migrations "
        "(version INTEGER PRIMARY KEY, name VARCHAR NOT NULL, applied_at TIMESTAMP NOT NULL)"
    )
    if lake:

        def start() -> None:
            con.execute(ducklake.without_constraints(bootstrap))
            con.execute(ducklake.WRITE_TURNS_DDL)
            con.execute("INSERT INTO warehouse_writes SELECT 0 WHERE NOT EXISTS (FROM warehouse_writes)")

        _with_retries(con, start, claim=False)
    else:
        con.execute(bootstrap)
    applied = []
    for version, name, sql in _migrations():

        def apply(version: int = version, name: str = name, sql: str = sql) -> bool:
            if schema_version(con) >= version:
                return False
            con.execute(ducklake.without_constraints(sql) if lake else sql)
            con.execute("INSERT INTO schema_migrations VALUES (?, ?, now()::TIMESTAMP)", [version, name])
            return True

        if _with_retries(con, apply):
            applied.append(name)
    return applied


LOCK_WAIT_ENV, LOCK_WAIT_DEFAULT = "LIKRA_LOCK_WAIT", 15.0


def lock_wait_seconds() -> float:
    """How long to wait for another process's lock on the warehouse: $LIKRA_LOCK_WAIT, else 15 s."""
    return env_number(LOCK_WAIT_ENV, LOCK_WAIT_DEFAULT)


_DUCKDB_MAGIC = b"DUCK"  # bytes 8-11 of every DuckDB database file


def _check_is_duckdb(path: Path) -> None:
    """Refuse a --db that exists but is not a DuckDB file, before DuckDB guesses (it would load sqlite_scanner)."""
    if path.is_dir():
        raise WarehouseError(f"warehouse {path} is a folder, not a DuckDB warehouse file; point --db at a file")
    if not path.exists():
        return
    if not path.is_file():  # a FIFO, a device or a socket: reading it could block forever
        raise WarehouseError(
            f"warehouse {path} is not a regular file (a pipe, device or socket); point --db at a warehouse file"
        )
    with path.open("rb") as handle:
        head = handle.read(16)
    if head[8:12] != _DUCKDB_MAGIC:
        kind = (
            "a SQLite database"
            if head.startswith(b"SQLite format 3")
            else "empty"
            if not head
            else "another kind of file"
        )
        raise WarehouseError(
            f"{path} is not a DuckDB warehouse (it is {kind}); point --db at a warehouse "
            "made by likra, or at a new file name to create one"
        )


def _check_parent(path: Path) -> None:
    """Refuse a --db under a regular file, which no folder can be made in."""
    for parent in path.absolute().parents:
        if parent.exists():
            if not parent.is_dir():
                raise WarehouseError(
                    f"warehouse {path} cannot be there: its parent {parent} is a file, "
                    "not a folder; choose another --db path"
                )
            return


def _check_version(con: duckdb.DuckDBPyConnection, where: object) -> int:
    """The warehouse's schema version; one from a newer toolkit is refused rather than misread."""
    version = schema_version(con)
    if version > latest_version():
        con.close()
        raise WarehouseError(
            f"warehouse {where} has schema version {version}, newer than this toolkit "
            f"({latest_version()}): upgrade likra-toolkit"
        )
    return version


def _open(location: Location, read_only: bool, config: dict | None = None) -> duckdb.DuckDBPyConnection:
    if location.path is not None:
        _check_is_duckdb(location.path)
    elif location.catalog_file is not None and location.catalog_file.exists() and not location.catalog_file.is_file():
        raise WarehouseError(
            f"DuckLake catalog {location.catalog_file} is not a regular file (a folder, pipe, "
            "device or socket); point --db at a catalog file"
        )
    where = location.path if location.path is not None else location
    # Another process's write is usually short (pipeline writers hold the file only to write), so wait a little,
    # and say so once: a command that stalls silently looks hung.
    wait_seconds = lock_wait_seconds()
    deadline = time.monotonic() + wait_seconds
    delay, said = 0.05, False
    while True:
        try:
            if location.is_ducklake:
                con = ducklake.attach(location, read_only=read_only)
                _check_stored_data_path(con, location)
            else:
                con = duckdb.connect(str(location.path), read_only=read_only, config=config or {})
            _LOCATIONS[con] = location
            return con
        except duckdb.IOException as exc:
            if is_damaged(exc):
                raise damaged(where, exc) from exc
            if not ducklake.is_lock_conflict(exc):
                raise WarehouseError(f"cannot open warehouse {where}: {_cause(exc)}") from exc
            if time.monotonic() + delay > deadline:
                raise WarehouseError(
                    f"warehouse {where} is locked by another process (DuckDB allows one writer, and no reader "
                    "beside it: a `likra sql` query holds the file until it ends or its --timeout); "
                    f"waited {wait_seconds:g} s ($LIKRA_LOCK_WAIT): wait for it to finish or stop it, then retry"
                ) from exc
            if not said:
                log.warning(
                    "waiting for the warehouse lock on %s, held by another process (up to %g s, $LIKRA_LOCK_WAIT)...",
                    where,
                    wait_seconds,
                )
                said = True
            time.sleep(delay)
            delay = min(delay * 2, 1.0)


def _on_this_machine(data_path: str | None) -> bool:
    return bool(data_path) and "://" not in data_path


def _check_stored_data_path(con: duckdb.DuckDBPyConnection, location: Location) -> None:
    """Refuse a catalog whose stored data path is no place for its files (/, a system folder): it would be
    written to, and the SQL sandbox would let queries read under it."""
    stored = ducklake.data_path(con)
    if _on_this_machine(stored):
        try:
            checked_output(
                stored, f"the data path DuckLake catalog {location.text.partition('?')[0]} stores", folder=True
            )
        except WarehouseError:
            con.close()
            raise


def damaged(where: object, exc: BaseException) -> WarehouseError:
    """The error for a warehouse whose file DuckDB finds damaged: nothing more is read or written."""
    return WarehouseError(
        f"warehouse {where} is damaged ({_cause(exc)}); nothing was changed: restore it "
        "from a backup, or move it aside and ingest again"
    )


def _cause(exc: BaseException) -> str:
    """The part of a DuckDB or OS error that says what went wrong, on one line."""
    text = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    for prefix in ("TransactionContext Error: ", "Failed to commit: ", "IO Error: "):
        text = text.removeprefix(prefix)
    return " ".join(text.split())


# DuckDB's words for a file it could not create, grow or write: a full disk, a file size limit, a read-only
# file or folder. Such a failure is the user's to fix; any other failed write is a bug and stays a traceback.
_WRITE_REFUSED = (
    "could not write",
    "could not truncate",
    "could not fsync",
    "no space left",
    "file too large",
    "read-only file system",
    "permission denied",
    "disk quota",
)


def _write_refused(exc: BaseException) -> bool:
    return isinstance(exc, duckdb.Error) and any(words in str(exc).lower() for words in _WRITE_REFUSED)


def _local_file(location: Location) -> Path | None:
    """The file this machine holds the warehouse (or its DuckLake catalog) in; None for PostgreSQL."""
    return location.path if location.path is not None else location.catalog_file


def warehouse_exists(db: DbRef = None) -> bool:
    """Whether there is a warehouse to read at this setting (a file, or a DuckLake catalog)."""
    location = resolve_location(db)
    if location.is_ducklake:
        return ducklake.catalog_exists(location)
    return location.path is not None and location.path.exists()


def connect(db: DbRef = None) -> duckdb.DuckDBPyConnection:
    """Open the warehouse read-write, creating it if needed and applying pending migrations."""
    location = resolve_location(db)
    lock_wait_seconds(), write_retries()  # a malformed setting stops the command before anything is created
    path = _local_file(location)
    if location.is_ducklake and _on_this_machine(location.data_path):
        checked_output(location.data_path, "DuckLake data path", folder=True)
    if path is not None:
        _check_parent(path)
        checked_output(path, "DuckLake catalog" if location.is_ducklake else "warehouse")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise WarehouseError(f"cannot create the warehouse folder {path.parent}: {_cause(exc)}") from exc
    con = _open(location, read_only=False)
    _check_version(con, path or location)
    try:
        migrate(con)
    except BaseException:
        con.close()
        raise
    return con


def connect_read_only(db: DbRef = None, *, sandbox: bool = False) -> duckdb.DuckDBPyConnection:
    """Open an existing warehouse read-only; `sandbox` also disables access to any other file."""
    location = resolve_location(db)
    path = _local_file(location)
    where = path or location
    if path is not None:
        _check_parent(path)
    if path is not None and not path.exists():
        raise WarehouseError(
            f"no warehouse at {path}: ingest a benchmark first (`likra ingest demo`), "
            "or point --db / LIKRA_DB at an existing file"
        )
    config = (
        {"enable_external_access": False, "lock_configuration": True} if sandbox and not location.is_ducklake else None
    )
    con = _open(location, read_only=True, config=config)
    if sandbox and location.is_ducklake:
        ducklake.sandbox(con, location)  # after ATTACH, which needs the catalog's files and server
    version = _check_version(con, where)
    if version == 0 and location.is_ducklake:
        con.close()
        raise WarehouseError(
            f"no warehouse in DuckLake catalog {location}: ingest a benchmark first "
            "(`likra ingest demo --db ...`), or copy a DuckDB warehouse in (`likra warehouse copy`)"
        )
    if version < latest_version():
        con.close()
        raise WarehouseError(
            f"warehouse {where} has schema version {version}, this code needs "
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
        if is_damaged(exc):
            raise damaged(_where(con), exc) from exc
        raise
    try:
        con.execute("COMMIT")
    except duckdb.Error as exc:
        if _write_refused(exc):
            raise _write_failed(con, exc) from exc
        if is_damaged(exc):
            raise damaged(_where(con), exc) from exc
        raise


def _where(con: duckdb.DuckDBPyConnection) -> object:
    location = _LOCATIONS.get(con)
    return "the warehouse" if location is None else location.path or location


def _write_failed(con: duckdb.DuckDBPyConnection, exc: BaseException) -> WarehouseError:
    where = _where(con)
    return WarehouseError(
        f"cannot write warehouse {where}: {_cause(exc)}; nothing was written (free disk space or "
        "make the file and its folder writable, then retry)"
    )


# Commits that lose a race with another DuckLake writer are retried, each after a longer random wait.
WRITE_RETRIES_ENV, WRITE_RETRIES_DEFAULT = "LIKRA_WRITE_RETRIES", 30


def write_retries() -> int:
    """How many times a commit that lost a DuckLake race is retried: $LIKRA_WRITE_RETRIES, else 30."""
    return env_int(WRITE_RETRIES_ENV, WRITE_RETRIES_DEFAULT)


def _with_retries(con: duckdb.DuckDBPyConnection, work: Callable[[], T], *, claim: bool = True) -> T:
    """`work()` in one transaction; on DuckLake, take the write turn first and retry a conflicting commit."""
    lake = is_ducklake(con)
    retries = write_retries()
    delay = 0.05
    for attempt in range(retries + 1):
        try:
            with transaction(con):
                if lake and claim:
                    con.execute("UPDATE warehouse_writes SET n_commits = n_commits + 1")
                return work()
        except duckdb.Error as exc:
            if not (lake and ducklake.is_conflict(exc)):
                raise
            if attempt == retries:
                raise WarehouseError(
                    f"warehouse {_LOCATIONS[con]}: a write lost {retries + 1} commit races "
                    f"to other writers, nothing was written (raise $LIKRA_WRITE_RETRIES): "
                    f"{_cause(exc)}"
                ) from exc
            log.debug("commit conflict on %s, retrying (%d)", _LOCATIONS[con], attempt + 1)
            time.sleep(delay * (0.5 + random.random()))
            delay = min(delay * 2, 2.0)
    raise AssertionError("unreachable")


def write_transaction(con: duckdb.DuckDBPyConnection, work: Callable[[duckdb.DuckDBPyConnection], T]) -> T:
    """Run `work(con)` in one transaction, all or nothing.

    On a DuckDB file this is `transaction`. On DuckLake every write transaction first takes the write turn
    (one row every writer updates), so two writers that skip existing keys cannot both add one: the later
    commit conflicts and `work` runs again on the new snapshot, with backoff. `work` must be repeatable."""
    return _with_retries(con, lambda: work(con))
