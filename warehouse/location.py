"""Where the warehouse is: a DuckDB file (the default), or a DuckLake catalog with its data files.

    data/warehouse.duckdb                                  a DuckDB file: one writer process at a time
    ducklake:lake.ducklake                                 DuckLake, catalog in a DuckDB file (one process at a time)
    ducklake:lake.sqlite                                   DuckLake, catalog in a SQLite file (processes of one machine)
    ducklake:postgres:dbname=lake host=db user=likra?data_path=/shared/lake/
                                                           DuckLake, catalog in PostgreSQL (many machines)

The data path (where DuckLake writes its Parquet files) is the `?data_path=` suffix, else `$LIKRA_DUCKLAKE_DATA`,
else, for a catalog file, the folder `<catalog>.files/` beside it. A PostgreSQL catalog needs one when it is
created; later it is read from the catalog.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from warehouse.errors import WarehouseError

# A warehouse as callers name it: a DuckDB file, a `ducklake:` location, or None for $LIKRA_DB, else the default.
DbRef = str | os.PathLike[str] | None

DEFAULT_DB = Path("data") / "warehouse.duckdb"
DB_ENV = "LIKRA_DB"
DATA_PATH_ENV = "LIKRA_DUCKLAKE_DATA"
DUCKLAKE_PREFIX = "ducklake:"
_DATA_PATH_SUFFIX = "?data_path="
_CATALOG_FILES = (".ducklake", ".duckdb", ".db", ".sqlite", ".sqlite3")


@dataclass(frozen=True)
class Location:
    """A parsed warehouse setting: `path` for a DuckDB file, else the DuckLake catalog and data path."""

    text: str
    path: Path | None = None  # the DuckDB warehouse file
    catalog: str | None = None  # DuckLake's catalog: 'postgres:<libpq string>', or a catalog file path
    data_path: str | None = None  # where DuckLake writes Parquet files; None: the catalog's own setting

    @property
    def is_ducklake(self) -> bool:
        return self.catalog is not None

    @property
    def catalog_file(self) -> Path | None:
        """The DuckDB or SQLite catalog file of a one-machine DuckLake."""
        if self.catalog is None or self.catalog.startswith("postgres:"):
            return None
        return Path(self.catalog.removeprefix("sqlite:").removeprefix("duckdb:"))

    @property
    def catalog_kind(self) -> str:
        """'file' (a DuckDB warehouse file), or the DuckLake catalog's engine: 'duckdb', 'sqlite' or 'postgres'."""
        if self.catalog is None:
            return "file"
        if self.catalog.startswith("postgres:"):
            return "postgres"
        if self.catalog.startswith("sqlite:") or self.catalog.endswith((".sqlite", ".sqlite3")):
            return "sqlite"
        return "duckdb"

    def __str__(self) -> str:
        return self.text


def parse_location(text: str) -> Location:
    """A warehouse setting as written in --db / $LIKRA_DB / the Dagster resource, checked for shape."""
    if not text.startswith(DUCKLAKE_PREFIX):
        return Location(text, path=Path(text))
    body, _, data_path = text[len(DUCKLAKE_PREFIX) :].partition(_DATA_PATH_SUFFIX)
    body = body.strip()
    data_path = data_path.strip() or os.environ.get(DATA_PATH_ENV) or None
    shown = text.partition(_DATA_PATH_SUFFIX)[0]
    if not body:
        raise WarehouseError(
            f"warehouse {text!r} names no DuckLake catalog: write ducklake:<file>.ducklake, "
            "ducklake:<file>.sqlite or ducklake:postgres:dbname=... host=..."
        )
    if body.startswith("postgres:"):
        if "dbname=" not in body:
            raise WarehouseError(
                f"warehouse {shown!r}: the PostgreSQL catalog needs dbname=... (a libpq "
                "connection string, e.g. ducklake:postgres:dbname=lake host=db user=likra)"
            )
    elif not body.removeprefix("sqlite:").removeprefix("duckdb:").endswith(_CATALOG_FILES):
        raise WarehouseError(
            f"warehouse {shown!r}: a DuckLake catalog file must end in .ducklake or .sqlite "
            "(or write ducklake:postgres:dbname=... for PostgreSQL)"
        )
    if data_path is None and not body.startswith("postgres:"):
        data_path = body.removeprefix("sqlite:").removeprefix("duckdb:") + ".files"
    if data_path is not None and "://" not in data_path:
        data_path = str(Path(data_path).absolute()) + "/"  # stored in the catalog: never relative to a cwd
    return Location(text, catalog=body, data_path=data_path)


def resolve_location(db: DbRef = None) -> Location:
    """The warehouse setting: the explicit argument, else $LIKRA_DB, else data/warehouse.duckdb in the cwd."""
    if db:
        return parse_location(os.fspath(db))
    return parse_location(os.environ.get(DB_ENV) or str(DEFAULT_DB))


def local_folder(location: Location) -> Path:
    """The folder for this machine's caches (converted models, embeddings, staging, reports): beside the
    warehouse file or catalog file, else beside a local data path, else data/ in the cwd."""
    if location.path is not None:
        return location.path.resolve().parent
    if location.catalog_file is not None:
        return location.catalog_file.resolve().parent
    if location.data_path and "://" not in location.data_path:
        return Path(location.data_path).resolve().parent
    return DEFAULT_DB.resolve().parent
