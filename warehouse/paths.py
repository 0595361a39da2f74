"""Where the warehouse file lives: `--db`, else `$LIKRA_DB`, else `data/warehouse.duckdb`."""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_DB = Path("data") / "warehouse.duckdb"
DB_ENV = "LIKRA_DB"


def resolve_db_path(db: str | os.PathLike[str] | None = None) -> Path:
    """The warehouse path: the explicit argument, else $LIKRA_DB, else data/warehouse.duckdb in the cwd."""
    if db:
        return Path(db)
    env = os.environ.get(DB_ENV)
    return Path(env) if env else DEFAULT_DB


def data_dir(db: str | os.PathLike[str] | None = None) -> Path:
    """The folder beside the warehouse file where caches (converted models, embeddings) live."""
    return resolve_db_path(db).resolve().parent
