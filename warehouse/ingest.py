"""Ingestion: read a benchmark's rows, build and check items, and replace its splits in one transaction.

Parsing happens before the warehouse is opened for writing, so the write lock is held only for
the short replace; a failure at any point leaves the previous rows as they were.
"""

from __future__ import annotations

import time
import unicodedata
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import duckdb
import polars as pl

from warehouse.db import connect, connect_read_only, warehouse_exists, write_transaction
from warehouse.errors import RowError, SourceFormatError, SpecError, WarehouseError
from warehouse.items import Item, items_frame
from warehouse.location import DbRef
from warehouse.sources import Benchmark, SourceRow, SpecBenchmark, builtin_benchmarks, get_benchmark

REJECT_SCHEMA = {
    "run_id": pl.String,
    "benchmark": pl.String,
    "split": pl.String,
    "source": pl.String,
    "row_ref": pl.String,
    "reason": pl.String,
}


class ReplaceRefused(WarehouseError):
    """An ingest that would replace a stored split by a much smaller one without --replace."""


@dataclass
class Collected:
    """Items and rejects read from one source, not yet written."""

    benchmark: Benchmark
    origin: str
    splits: list[str]
    items: pl.DataFrame
    rejects: pl.DataFrame  # at most MAX_STORED_REJECTS per split
    run_id: str
    started_at: datetime
    reject_counts: Counter[str] = field(default_factory=Counter)  # every reject, per split


@dataclass
class IngestResult:
    """What one ingestion wrote: counts per split, where from, how long it took."""

    run_id: str
    benchmark: str
    origin: str
    items: dict[str, int] = field(default_factory=dict)
    rejects: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def n_items(self) -> int:
        return sum(self.items.values())

    @property
    def n_rejects(self) -> int:
        return sum(self.rejects.values())


@dataclass
class _Stream:
    split: str
    origin: str
    local: bool
    rows: Iterator[SourceRow]


MAX_STORED_REJECTS = 10_000  # rejects stored per split; more are counted (ingest_runs.n_rejects), not kept
MAX_FIELD_CHARS = 1_000_000  # far beyond any model's context; a bigger field is a broken row, not a question
MAX_CHOICE_CHARS = 10_000  # an answer, not a document: a longer one fits no scoring context and fails its benchmark


def visible(text: str) -> str:
    """`text` without whitespace and invisible characters (zero-width spaces and joiners, BOMs, controls)."""
    return "".join(ch for ch in text if not ch.isspace() and unicodedata.category(ch) not in ("Cf", "Cc", "Zs"))


def _check_texts(item: Item) -> None:
    """Every text must be storable (valid Unicode) and of a sane size."""
    texts = {
        "id": item.source_id,
        "prompt": item.prompt,
        "question": item.question,
        "subset": item.subset,
        "description": item.description,
        "continuation": item.continuation,
        "target_delimiter": item.target_delimiter,
        **{f"choice {index}": str(choice) for index, choice in enumerate(item.choices)},
    }
    for name, text in texts.items():
        if text is None:
            continue
        if len(text) > MAX_FIELD_CHARS:
            raise RowError(f"{name} has {len(text):,} characters, over the limit of {MAX_FIELD_CHARS:,}")
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as exc:  # a lone surrogate, e.g. from a JSON escape like \ud800
            raise RowError(f"{name} is not valid Unicode text ({exc.reason} at character {exc.start + 1})") from exc
        if "\x00" in text:
            raise RowError(f"{name} holds a NUL character (at character {text.index(chr(0)) + 1})")


def check_item(item: Item) -> None:
    """Raise RowError unless the item can be scored: a prompt, two non-empty choices, golds in range."""
    _check_texts(item)
    if item.format == "continuation" and not item.prompt.strip():
        raise RowError("prompt is empty")
    if len(item.choices) < 2:
        raise RowError(f"needs at least two choices, found {len(item.choices)}")
    for index, choice in enumerate(item.choices):
        if not visible(str(choice)):
            raise RowError(f"choice {index} is empty" + (" (only invisible characters)" if str(choice).strip() else ""))
        if len(str(choice)) > MAX_CHOICE_CHARS:
            raise RowError(
                f"choice {index} has {len(str(choice)):,} characters, over the limit of {MAX_CHOICE_CHARS:,} "
                "for an answer"
            )

    for gold in [item.gold, *(item.golds or [])]:
        if not 0 <= gold < len(item.choices):
            raise RowError(f"gold index {gold} is out of range for {len(item.choices)} choices")
    if item.format == "partial" and not (item.continuation or "").strip():
        raise RowError("the text after the blank (the scored continuation) is empty")


def _streams(
    benchmark: Benchmark, path: Path | None, splits: list[str] | None, hub_id: str | None, revision: str | None
) -> tuple[str, list[_Stream]]:
    spec_files = isinstance(benchmark, SpecBenchmark) and benchmark.spec.is_local and hub_id is None
    if path is not None or spec_files:
        files = benchmark.local_files(path, splits[0] if splits and len(splits) == 1 else None)
        if splits:
            missing = sorted(set(splits) - {f.split for f in files})
            if missing:
                raise SourceFormatError(
                    f"{benchmark.name}: no file for split {', '.join(missing)} under {path or 'the spec'}; "
                    f"found splits {', '.join(sorted({f.split for f in files}))}"
                )
            files = [f for f in files if f.split in splits]
        origin = str(path) if path is not None else f"spec {benchmark.name}"
        return origin, [_Stream(f.split, str(f.path), True, benchmark.read_local(f)) for f in files]
    dataset = hub_id or benchmark.hub_id
    wanted = splits or list(benchmark.hub_splits)
    return f"hub {dataset}", [
        _Stream(s, f"{dataset}[{s}]", False, benchmark.read_hub(s, hub_id, revision)) for s in wanted
    ]


def _no_valid_row(benchmark: Benchmark, stream: _Stream, problems: list[str], n_problems: int) -> SourceFormatError:
    """The error for a source without one valid row: it must not replace the rows already stored."""
    if not n_problems:
        return SourceFormatError(
            f"{benchmark.name}: {stream.origin} has no rows; nothing was changed. "
            "Point --path (or the spec) at the file that holds the questions"
        )
    shown = "; ".join(problems[:3]) + (f"; and {n_problems - 3:,} more" if n_problems > 3 else "")
    if isinstance(benchmark, SpecBenchmark):
        hint = "check the spec's templates against the file's fields"
    else:
        hint = (
            f"so it is not a {benchmark.name} file in the expected layout "
            f"({benchmark.local_layout if stream.local else benchmark.hub_id})"
        )
    return SourceFormatError(f"{benchmark.name}: {stream.origin} has no valid row, {hint}: {shown}")


def collect(
    benchmark: Benchmark,
    *,
    path: Path | None = None,
    splits: list[str] | None = None,
    limit: int | None = None,
    hub_id: str | None = None,
    revision: str | None = None,
) -> Collected:
    """Read every row, build items, and set malformed rows aside as rejects; writes nothing."""
    run_id = uuid.uuid4().hex
    started_at = datetime.now()
    origin, streams = _streams(benchmark, path, splits, hub_id, revision)
    items: list[dict] = []
    rejects: list[dict] = []
    seen: dict[str, str] = {}
    per_split: Counter[str] = Counter()
    rejected: Counter[str] = Counter()
    for stream in streams:
        valid_before, problems, n_problems, full = len(items), [], 0, False
        for row in stream.rows:
            if limit is not None and per_split[stream.split] >= limit:
                full = True  # the split reached --limit in an earlier file: this one was not read
                break
            try:
                if row.error:
                    raise RowError(row.error)
                doc = benchmark.from_local(row.doc) if stream.local else row.doc
                item = benchmark.to_item(doc, row).placed(benchmark.name, stream.split, per_split[stream.split])
                check_item(item)
                key = item.item_id
                if key in seen:
                    raise RowError(f"duplicate id {item.source_id!r} (first seen at {seen[key]})")
            except (RowError, KeyError, TypeError, ValueError, AttributeError) as exc:
                reason = str(exc) if isinstance(exc, RowError) else f"malformed row ({type(exc).__name__}: {exc})"
                n_problems += 1
                if len(problems) < 3:
                    problems.append(f"{row.ref}: {reason}")
                rejected[stream.split] += 1
                if rejected[stream.split] <= MAX_STORED_REJECTS:  # memory stays bounded, however many rows fail
                    rejects.append(
                        {
                            "run_id": run_id,
                            "benchmark": benchmark.name,
                            "split": stream.split,
                            "source": row.origin,
                            "row_ref": row.ref,
                            "reason": reason,
                        }
                    )
                continue
            seen[key] = f"{row.origin} {row.ref}"
            items.append(item.row(row.provenance, run_id, started_at))
            per_split[stream.split] += 1
        if len(items) == valid_before and not full:
            raise _no_valid_row(benchmark, stream, problems, n_problems)
    splits_done = sorted({s.split for s in streams})
    return Collected(
        benchmark,
        origin,
        splits_done,
        items_frame(items),
        pl.DataFrame(rejects, schema=REJECT_SCHEMA, orient="row"),
        run_id,
        started_at,
        rejected,
    )


def _check_not_shrinking(con: duckdb.DuckDBPyConnection, collected: Collected, limit: int | None) -> None:
    """Refuse to replace a stored split by one with fewer than half its items (one subject file for all of MMLU,
    a --limit much below the stored size): what users do by mistake, said before anything is lost."""
    name = collected.benchmark.name
    stored = con.execute(
        "SELECT split, count(*), list(DISTINCT subset) FILTER (WHERE subset IS NOT NULL) FROM items "
        "WHERE benchmark = ? AND list_contains(?, split) GROUP BY split ORDER BY split",
        [name, collected.splits],
    ).fetchall()
    new = dict(collected.items.group_by("split").len().iter_rows())
    for split, old, subsets in stored:
        kept = new.get(split, 0)
        if kept * 2 >= old:
            continue
        new_subsets = set(collected.items.filter(pl.col("split") == split)["subset"].drop_nulls().to_list())
        dropped = sorted(set(subsets or []) - new_subsets)
        reasons = [f"--limit {limit}"] if limit is not None else []
        if dropped:
            reasons.append(f"subsets {', '.join(dropped[:5])}{', ...' if len(dropped) > 5 else ''} would be dropped")
        why = f" ({'; '.join(reasons)})" if reasons else ""
        raise ReplaceRefused(
            f"{name}: split {split!r} holds {old:,} items and this ingest would replace them with "
            f"{kept:,}{why}; nothing was changed. Pass --replace to replace the split anyway"
        )


def _check_no_collision(con: duckdb.DuckDBPyConnection, name: str) -> None:
    """Refuse staged items whose id an item of another split holds already (a '/' in a split name or id can make
    two splits' ids equal): a file warehouse would fail on its key, DuckLake (no keys) would store both."""
    clashes = con.execute(
        "SELECT s.item_id, i.split FROM staged_items s JOIN items i USING (item_id) ORDER BY s.item_id LIMIT 3"
    ).fetchall()
    if clashes:
        shown = ", ".join(f"{item_id!r} (stored in split {split!r})" for item_id, split in clashes)
        raise ReplaceRefused(
            f"{name}: item ids collide with items of another split: {shown}; nothing was changed. "
            "Give the splits names without '/', or ids that differ"
        )


def write(
    con: duckdb.DuckDBPyConnection, collected: Collected, *, replace: bool = True, limit: int | None = None
) -> IngestResult:
    """Replace exactly the collected benchmark/splits, their rejects and spec, in one transaction; without
    `replace`, a split that would keep fewer than half its stored items is refused (ReplaceRefused)."""
    name, splits = collected.benchmark.name, collected.splits
    items, rejects = collected.items, collected.rejects
    con.register("staged_items", items)
    con.register("staged_rejects", rejects)

    def replace_splits(con: duckdb.DuckDBPyConnection) -> None:
        if not replace:
            _check_not_shrinking(con, collected, limit)
        con.execute("DELETE FROM items WHERE benchmark = ? AND list_contains(?, split)", [name, splits])
        _check_no_collision(con, name)
        con.execute("INSERT INTO items BY NAME SELECT * FROM staged_items")
        con.execute("DELETE FROM ingest_rejects WHERE benchmark = ? AND list_contains(?, split)", [name, splits])
        con.execute("INSERT INTO ingest_rejects BY NAME SELECT * FROM staged_rejects")
        con.execute(
            "INSERT INTO ingest_runs VALUES (?, ?, ?, ?, ?, now()::TIMESTAMP, ?, ?)",
            [
                collected.run_id,
                name,
                splits,
                collected.origin,
                collected.started_at,
                items.height,
                sum(collected.reject_counts.values()),
            ],
        )
        benchmark = collected.benchmark
        if isinstance(benchmark, SpecBenchmark) and name not in builtin_benchmarks():
            con.execute("DELETE FROM benchmark_specs WHERE benchmark = ?", [name])
            con.execute(
                "INSERT INTO benchmark_specs VALUES (?, ?, ?, now()::TIMESTAMP)",
                [name, benchmark.yaml_text, str(benchmark.base_dir)],
            )

    write_transaction(con, replace_splits)
    con.unregister("staged_items")
    con.unregister("staged_rejects")
    return IngestResult(
        run_id=collected.run_id,
        benchmark=name,
        origin=collected.origin,
        items={s: items.filter(pl.col("split") == s).height for s in splits},
        rejects={s: collected.reject_counts[s] for s in splits},
    )


def resolve(benchmark: str | Benchmark, con: duckdb.DuckDBPyConnection | None = None) -> Benchmark:
    """A benchmark object from a name (built-in or registered) or as given; specs may not shadow built-ins."""
    if isinstance(benchmark, SpecBenchmark):
        builtin = builtin_benchmarks().get(benchmark.name)
        if builtin is not None and not (
            isinstance(builtin, SpecBenchmark) and builtin.yaml_text == benchmark.yaml_text
        ):
            raise SpecError(f"spec task {benchmark.name!r} is a built-in benchmark; choose another task name")
        return benchmark
    if isinstance(benchmark, Benchmark):
        return benchmark
    return get_benchmark(benchmark, con)


def ingest(
    benchmark: str | Benchmark,
    *,
    db: DbRef = None,
    path: DbRef = None,
    splits: list[str] | None = None,
    limit: int | None = None,
    hub_id: str | None = None,
    revision: str | None = None,
    allow_outside_files: bool = False,
    replace: bool = False,
) -> IngestResult:
    """Ingest a benchmark from local release files (`path`), its spec's files, or the hub.

    A spec may only name files in its own folder unless `allow_outside_files` is set; a split is replaced by one
    with fewer than half its stored items only with `replace`.
    """
    started = time.perf_counter()
    if isinstance(benchmark, str) and benchmark not in builtin_benchmarks() and warehouse_exists(db):
        with connect_read_only(db) as con:  # registered specs live in the warehouse
            resolved = resolve(benchmark, con)
    else:
        resolved = resolve(benchmark)
    if allow_outside_files and isinstance(resolved, SpecBenchmark):
        resolved = resolved.with_outside_files()
    if limit is not None and limit < 1:
        raise SourceFormatError(f"--limit must be at least 1, got {limit}")
    collected = collect(
        resolved,
        path=Path(path) if path is not None else None,
        splits=splits,
        limit=limit,
        hub_id=hub_id,
        revision=revision,
    )
    with connect(db) as con:
        result = write(con, collected, replace=replace, limit=limit)
    result.seconds = time.perf_counter() - started
    return result
