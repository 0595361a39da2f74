"""A DuckLake warehouse: attached from its catalog with the extensions shipped as PyPI wheels, its DDL
without the constraints DuckLake lacks, and the write turn that keeps concurrent writers' keys unique."""

from __future__ import annotations

import importlib.util
import random
import re
import time
from pathlib import Path

import duckdb

from warehouse.errors import WarehouseError
from warehouse.location import DATA_PATH_ENV, Location

ALIAS = "warehouse"
# The wheel of each extension, as pip names it; DuckDB's name inside it may differ (postgres is postgres_scanner).
_WHEELS = {
    "ducklake": "duckdb-extension-ducklake",
    "postgres": "duckdb-extension-postgres",
    "sqlite": "duckdb-extension-sqlite",
}
# A table every DuckLake write transaction updates: DuckLake lets two transactions insert into one table
# concurrently, so two writers skipping existing keys (anti-joins, delete-then-insert) could both add one
# key. Updating this row makes any two concurrent writes conflict at commit, and the later one is retried
# on the new snapshot. Computing (models, embeddings) stays concurrent; commits take turns.
WRITE_TURNS_DDL = "CREATE TABLE IF NOT EXISTS warehouse_writes (n_commits BIGINT NOT NULL)"


def load_extension(con: duckdb.DuckDBPyConnection, name: str) -> None:
    """Load a DuckDB extension from its PyPI wheel (installed once into DuckDB's folder); nothing is downloaded."""
    wheel = _WHEELS[name]
    spec = importlib.util.find_spec(wheel.replace("-", "_"))
    if spec is not None and spec.submodule_search_locations:
        folder = Path(next(iter(spec.submodule_search_locations))) / "extensions" / f"v{duckdb.__version__}"
        bundled = folder / f"{name}.duckdb_extension"
        if bundled.exists():
            try:
                con.execute(f"LOAD {name}")
                return
            except duckdb.Error:
                con.execute(f"INSTALL '{bundled}'")  # by path: DuckDB copies the file, it fetches nothing
                con.execute(f"LOAD {name}")
                return
    raise WarehouseError(
        f"a DuckLake warehouse needs DuckDB's {name} extension: pip install {wheel}=={duckdb.__version__}"
    )


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _attach_target(location: Location) -> str:
    """What follows `ducklake:` in ATTACH: DuckLake reads a bare path as a DuckDB catalog file."""
    assert location.catalog is not None
    if location.catalog_kind == "sqlite" and not location.catalog.startswith("sqlite:"):
        return "sqlite:" + location.catalog
    return location.catalog


# Processes that attach a new catalog at the same moment each try to create its tables; all but one fail
# with a duplicate in PostgreSQL's own catalog, and attach again to find the tables made.
_ATTACH_TRIES = 8


def attach(location: Location, *, read_only: bool) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with the DuckLake catalog attached as the default database."""
    delay = 0.1
    for attempt in range(_ATTACH_TRIES):
        try:
            return _attach_once(location, read_only=read_only)
        except WarehouseError as exc:
            if attempt == _ATTACH_TRIES - 1 or not is_conflict(exc.__cause__ or exc):
                raise
            time.sleep(delay * (0.5 + random.random()))
            delay *= 2
    raise AssertionError("unreachable")


def _attach_once(location: Location, *, read_only: bool) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    try:
        load_extension(con, "ducklake")
        if location.catalog_kind in ("postgres", "sqlite"):
            load_extension(con, location.catalog_kind)
        options = ["READ_ONLY"] if read_only else []
        if location.data_path and not read_only:
            options.append(f"DATA_PATH {_quote(location.data_path)}")
        clause = f" ({', '.join(options)})" if options else ""
        con.execute(f"ATTACH {_quote('ducklake:' + _attach_target(location))} AS {ALIAS}{clause}")
        con.execute(f"USE {ALIAS}")
    except duckdb.Error as exc:
        con.close()
        raise _attach_failed(location, exc) from exc
    except BaseException:
        con.close()
        raise
    return con


def _attach_failed(location: Location, exc: duckdb.Error) -> Exception:
    """A lock error stays a DuckDB error (the caller waits for it); anything else names the setting."""
    text = " ".join(str(exc).split())
    if is_lock_conflict(exc) and location.catalog_kind == "duckdb":
        return exc
    mismatch = re.search(r'does not match existing data path in the catalog "([^"]*)"', text)
    if mismatch:
        return WarehouseError(
            f"DuckLake warehouse {location.text.partition('?')[0]}: its catalog stores the data path "
            f"{mismatch.group(1)}, not {location.data_path}: give that one (?data_path= or "
            f"${DATA_PATH_ENV}), or another catalog"
        )
    if "data_path" in text.lower() or "data path" in text.lower():
        return WarehouseError(
            f"DuckLake warehouse {location}: a new catalog needs a data path for its Parquet "
            f"files: add ?data_path=<folder> to the setting or set ${DATA_PATH_ENV} ({text})"
        )
    return WarehouseError(f"cannot open DuckLake warehouse {location}: {text}")


def data_path(con: duckdb.DuckDBPyConnection) -> str | None:
    """The data path the catalog stores (where its Parquet files are)."""
    row = con.execute(
        f"SELECT value FROM __ducklake_metadata_{ALIAS}.ducklake_metadata WHERE key = 'data_path'"
    ).fetchone()
    return row[0] if row else None


def sandbox(con: duckdb.DuckDBPyConnection, location: Location) -> None:
    """Allow reading only the warehouse's own files from now on (the catalog is attached already)."""
    allowed = [path for path in (data_path(con),) if path]
    if location.catalog_file is not None:
        allowed.append(str(location.catalog_file.resolve()))
    con.execute("SET allowed_directories = ?", [[p for p in allowed if p.endswith("/")]])
    con.execute("SET allowed_paths = ?", [[p for p in allowed if not p.endswith("/")]])
    con.execute("SET enable_external_access = false")
    con.execute("SET lock_configuration = true")


def catalog_exists(location: Location) -> bool:
    """Whether the catalog is there to read: the catalog file exists, or (PostgreSQL) it can be attached."""
    if location.catalog_file is not None:
        return location.catalog_file.exists()
    try:
        attach(location, read_only=True).close()
    except WarehouseError:
        return False
    return True


_PRIMARY_KEY = re.compile(r",\s*PRIMARY KEY\s*\([^)]*\)|\s+PRIMARY KEY\b|\s+UNIQUE\b")
_CHECK = re.compile(r"\s+CHECK\s*\(")


def without_constraints(sql: str) -> str:
    """A migration's DDL for DuckLake, which has no keys, UNIQUE or CHECK: each writer keeps keys unique."""
    sql = re.sub(r"--[^\n]*", "", sql)  # comments may name the words below
    sql = _PRIMARY_KEY.sub("", sql)
    while match := _CHECK.search(sql):
        depth, end = 1, match.end()
        while depth:  # the CHECK's balanced parentheses
            depth += {"(": 1, ")": -1}.get(sql[end], 0)
            end += 1
        sql = sql[: match.start()] + sql[end:]
    return sql


# PostgreSQL's and SQLite's words for the same race: a catalog write another process got in first, or
# (SQLite) the catalog file locked by another process's commit.
CONFLICT_WORDS = (
    "transaction conflict",
    "could not serialize",
    "duplicate key value",
    "concurrent update",
    "already exists",
    "database is locked",
)


def is_conflict(exc: BaseException) -> bool:
    """A commit that lost a race with another writer: retried on the new snapshot, never a lost row."""
    return isinstance(exc, duckdb.Error) and any(words in str(exc).lower() for words in CONFLICT_WORDS)


def is_lock_conflict(exc: BaseException) -> bool:
    """DuckDB's refusal to open a file another process holds (not any message with "lock" in it, e.g. "block")."""
    text = str(exc).lower()
    return isinstance(exc, duckdb.Error) and ("could not set lock" in text or "conflicting lock" in text)


_DAMAGE_WORDS = (
    "corrupt database file",
    "does not match stored checksum",
    "failed to rollback",
    "database has been invalidated",
    "invalid block",
    "wal file is corrupt",
)


def is_damaged(exc: BaseException) -> bool:
    """A DuckDB error that says the database file itself is damaged (a corrupt block, a failed rollback)."""
    text = str(exc).lower()
    return isinstance(exc, duckdb.FatalException) or (
        isinstance(exc, duckdb.Error) and any(words in text for words in _DAMAGE_WORDS)
    )
