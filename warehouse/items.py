"""The item contract: the columns of `items`, the typed row that ingestion writes and every stage reads,
and `load_items` with its split, limit and order rules.

Besides the migration `0001_items.sql`, this is the only place the columns are written; the Dagster
table schema, the ingestion frames and every reader are built from `COLUMNS` and `Item`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, fields, replace

import duckdb
import polars as pl

from warehouse.errors import UnknownBenchmarkError, WarehouseError


@dataclass(frozen=True)
class Column:
    """One column of `items`: its Polars and SQL types and what it holds."""

    dtype: pl.DataType
    sql: str
    description: str


COLUMNS: dict[str, Column] = {
    "item_id": Column(
        pl.String(), "VARCHAR", "`<benchmark>/<split>/[<subset>/]<source_id>`, stable across re-ingestion"
    ),
    "benchmark": Column(pl.String(), "VARCHAR", "the benchmark (partition) name"),
    "split": Column(pl.String(), "VARCHAR", "train, validation, test, ..."),
    "source_id": Column(pl.String(), "VARCHAR", "the benchmark's own id, or the 0-based row number where it has none"),
    "position": Column(pl.Int32(), "INTEGER", "0-based order within its split, as read (few-shot `first_n`)"),
    "subset": Column(pl.String(), "VARCHAR", "e.g. the MMLU subject"),
    "prompt": Column(pl.String(), "VARCHAR", "scoring context as lm-evaluation-harness builds it, no trailing space"),
    "question": Column(
        pl.String(), "VARCHAR", "the bare question (no template, primer or options), for search and display"
    ),
    "description": Column(pl.String(), "VARCHAR", "task description lm-eval puts before any few-shot examples"),
    "choices": Column(pl.List(pl.String()), "VARCHAR[]", "answer texts (contexts, for the partial format)"),
    "gold": Column(pl.Int32(), "INTEGER", "0-based index of the correct choice"),
    "golds": Column(pl.List(pl.Int32()), "INTEGER[]", "every correct index where several are correct (TruthfulQA MC2)"),
    "format": Column(pl.String(), "VARCHAR", "continuation | partial"),
    "continuation": Column(pl.String(), "VARCHAR", "partial format: the shared suffix scored after each choice"),
    "target_delimiter": Column(
        pl.String(), "VARCHAR", "put between context and scored text (lm-eval's target_delimiter)"
    ),
    "source": Column(pl.String(), "VARCHAR", "file name and content hash, or hub dataset id and revision"),
    "ingest_run_id": Column(pl.String(), "VARCHAR", "the ingestion that wrote the row"),
    "ingested_at": Column(pl.Datetime("us"), "TIMESTAMP", "when it was written"),
}
ITEM_SCHEMA: dict[str, pl.DataType] = {name: column.dtype for name, column in COLUMNS.items()}


@dataclass(frozen=True)
class Item:
    """One multiple-choice question: what a benchmark source builds from a row, and what every stage reads back.

    Sources fill the content; ingestion adds the identity (benchmark, split, position). `question`
    defaults to the prompt where the source has no bare question.
    """

    source_id: str
    prompt: str
    choices: tuple[str, ...]
    gold: int
    golds: tuple[int, ...] | None = None
    subset: str | None = None
    description: str | None = None
    format: str = "continuation"
    continuation: str | None = None
    target_delimiter: str = " "
    question: str | None = None
    benchmark: str = ""
    split: str = ""
    position: int = 0

    def __post_init__(self) -> None:
        # Sources hand over lists and may omit the question; a stored item always has both in one shape.
        object.__setattr__(self, "choices", tuple(str(c) for c in self.choices))
        if self.golds is not None:
            object.__setattr__(self, "golds", tuple(int(g) for g in self.golds))
        if self.question is None:
            object.__setattr__(self, "question", self.prompt)

    @property
    def item_id(self) -> str:
        """'<benchmark>/<split>/[<subset>/]<source_id>': readable, and stable across re-ingestion."""
        return "/".join([self.benchmark, self.split, *([self.subset] if self.subset else []), self.source_id])

    @property
    def true_choices(self) -> tuple[int, ...]:
        """Every correct choice: the gold one and, where several are correct, the others."""
        return tuple(sorted({self.gold, *(self.golds or ())}))

    def answer_text(self, choice: int) -> str:
        """The text whose length acc_norm divides by: the choice, or for the partial format the shared suffix."""
        return self.choices[choice] if self.format == "continuation" else self.continuation or ""

    def placed(self, benchmark: str, split: str, position: int) -> Item:
        """This item as a row of `benchmark`/`split` at `position`."""
        return replace(self, benchmark=benchmark, split=split, position=position)

    def row(self, source: str, run_id: str, ingested_at: object) -> dict:
        """The item as a row of `items`, with its provenance."""
        values = {name: getattr(self, name) for name in ITEM_FIELDS}
        values.update(
            item_id=self.item_id,
            choices=list(self.choices),
            golds=list(self.golds) if self.golds is not None else None,
            source=source,
            ingest_run_id=run_id,
            ingested_at=ingested_at,
        )
        return {name: values[name] for name in COLUMNS}


ITEM_FIELDS = tuple(f.name for f in fields(Item))


def items_frame(rows: Sequence[dict]) -> pl.DataFrame:
    """Rows built by `Item.row` as a frame with the table's types."""
    return pl.DataFrame(list(rows), schema=ITEM_SCHEMA, orient="row")


def read_items(con: duckdb.DuckDBPyConnection, where: str, params: Sequence) -> list[Item]:
    """Items matching a SQL condition, in source order (split, subset, position)."""
    rows = con.execute(
        f"SELECT {', '.join(ITEM_FIELDS)} FROM items WHERE {where} ORDER BY split, subset, position", list(params)
    )
    return [Item(*row) for row in rows.fetchall()]


def load_items(
    con: duckdb.DuckDBPyConnection, benchmark: str, splits: Sequence[str] | None = None, limit: int | None = None
) -> list[Item]:
    """Items of a benchmark in source order, optionally only some splits and the first `limit` of each."""
    where, params = "benchmark = ?", [benchmark]
    if splits:
        where += " AND list_contains(?, split)"
        params.append(list(splits))
    items = read_items(con, where, params)
    if not items:
        ingested = ingested_splits(con, benchmark)
        if not ingested:
            raise WarehouseError(f"benchmark {benchmark!r} is not ingested yet: run `likra ingest {benchmark}` first")
        raise WarehouseError(
            f"benchmark {benchmark!r} has no items in split(s) {', '.join(splits or [])}; "
            f"ingested: {', '.join(ingested)}"
        )
    if limit is not None:
        per_split: dict[str, int] = defaultdict(int)
        kept = []
        for item in items:
            if per_split[item.split] < limit:
                kept.append(item)
                per_split[item.split] += 1
        items = kept
    return items


def ingested_splits(con: duckdb.DuckDBPyConnection, benchmark: str) -> list[str]:
    """The splits of a benchmark the warehouse holds, sorted."""
    return [
        s
        for (s,) in con.execute(
            "SELECT DISTINCT split FROM items WHERE benchmark = ? ORDER BY split", [benchmark]
        ).fetchall()
    ]


def require_ingested(con: duckdb.DuckDBPyConnection, benchmark: str) -> None:
    """Raise UnknownBenchmarkError unless the warehouse holds items of `benchmark` (checked before any model loads)."""
    if ingested_splits(con, benchmark):
        return
    known = [b for (b,) in con.execute("SELECT DISTINCT benchmark FROM items ORDER BY 1").fetchall()]
    raise UnknownBenchmarkError(
        f"benchmark {benchmark!r} is not ingested yet: run `likra ingest {benchmark}` first"
        f" (ingested: {', '.join(known) or 'none'})"
    )
