"""Lexical candidates: BM25 matches of each question among the answer pool, with DuckDB's full-text search.

The index is built in an in-memory DuckDB, never in the warehouse: DuckDB's FTS index does not
follow table changes, and a throwaway index per run cannot go stale.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import duckdb
import polars as pl

from mining.errors import MiningError


def load_fts(con: duckdb.DuckDBPyConnection) -> None:
    """Load the fts extension: installed already, or from the `duckdb-extension-fts` wheel (offline)."""
    try:
        con.execute("LOAD fts")
        return
    except duckdb.Error:
        pass
    spec = importlib.util.find_spec("duckdb_extension_fts")
    if spec is not None and spec.submodule_search_locations:
        version = duckdb.__version__
        bundled = (
            Path(next(iter(spec.submodule_search_locations))) / "extensions" / f"v{version}" / "fts.duckdb_extension"
        )
        if bundled.exists():
            con.execute(f"INSTALL '{bundled}'")
            con.execute("LOAD fts")
            return
    raise MiningError(
        f"lexical candidates need DuckDB's fts extension: pip install duckdb-extension-fts=={duckdb.__version__}"
    )


def bm25_hits(pool: pl.DataFrame, questions: dict[str, str], k: int) -> dict[str, list[tuple[str, int]]]:
    """For each item id, the pool answers (norm_hash, rank) that best match its question by BM25."""
    if not questions or k == 0:
        return {}
    con = duckdb.connect()
    found: dict[str, list[tuple[str, int]]] = {}
    try:
        load_fts(con)
        con.register("documents", pool.select(pl.int_range(pl.len()).alias("id"), "norm_hash", "text"))
        con.execute("CREATE TABLE answers AS SELECT * FROM documents")
        con.execute("PRAGMA create_fts_index('answers', 'id', 'text', overwrite=1)")
        # One statement per question: with a constant query string the BM25 macro runs in milliseconds,
        # where joining questions to answers would evaluate it for every pair.
        query = (
            "SELECT norm_hash FROM (SELECT id, norm_hash, fts_main_answers.match_bm25(id, ?) AS score "
            "FROM answers) WHERE score IS NOT NULL ORDER BY score DESC, id LIMIT ?"
        )
        for item_id, question in questions.items():
            hits = con.execute(query, [question, k]).fetchall()
            found[item_id] = [(h, rank) for rank, (h,) in enumerate(hits, 1)]
    finally:
        con.close()
    return found
