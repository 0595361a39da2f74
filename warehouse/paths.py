"""Where the warehouse lives (`--db`, else `$LIKRA_DB`, else `data/warehouse.duckdb`) and its local folder."""

from __future__ import annotations

import os
from pathlib import Path

from warehouse.location import DB_ENV, DEFAULT_DB, local_folder, resolve_location

__all__ = ["DB_ENV", "DEFAULT_DB", "data_dir", "resolve_db_path"]


def resolve_db_path(db: str | os.PathLike[str] | None = None) -> Path:
    """The warehouse setting as a path (a DuckLake setting comes back as written; see `resolve_location`)."""
    location = resolve_location(db)
    return location.path if location.path is not None else Path(location.text)


def data_dir(db: str | os.PathLike[str] | None = None) -> Path:
    """The folder beside the warehouse where caches (converted models, embeddings) live."""
    return local_folder(resolve_location(db))
