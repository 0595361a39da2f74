"""Ingestion writes: idempotent replacement, rejects that name the row, clear errors that write nothing."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb
import polars as pl
import pytest

from warehouse.db import connect
from warehouse.errors import SourceFormatError, UnknownBenchmarkError
from warehouse.ingest import collect, ingest, write
from warehouse.sources import get_benchmark

ARC_ROW = {"id": "Q{n}", "question": {"stem": "Which planet is red?", "choices": [
    {"text": "Mars", "label": "A"}, {"text": "Venus", "label": "B"}, {"text": "Jupiter", "label": "C"}]},
    "answerKey": "A"}


def arc_line(n: int, **changes) -> str:
    row = json.loads(json.dumps(ARC_ROW).replace("Q{n}", f"Q{n}"))
    row.update(changes)
    return json.dumps(row)


def rows(db: Path, sql: str, *params) -> list[tuple]:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(sql, list(params)).fetchall()


def test_reingesting_replaces_rows_without_duplicates(samples: Path, db: Path) -> None:
    first = ingest("arc_challenge", db=db, path=samples / "arc_challenge")
    second = ingest("arc_challenge", db=db, path=samples / "arc_challenge")

    assert first.items == second.items == {"test": 1172}
    assert rows(db, "SELECT count(*), count(DISTINCT item_id) FROM items") == [(1172, 1172)]
    assert rows(db, "SELECT DISTINCT ingest_run_id FROM items") == [(second.run_id,)]
    assert rows(db, "SELECT count(*) FROM ingest_runs WHERE benchmark = 'arc_challenge'") == [(2,)]


def test_reingesting_one_split_leaves_the_others(samples: Path, db: Path) -> None:
    ingest("openbookqa", db=db, path=samples / "openbookqa")
    ingest("openbookqa", db=db, path=samples / "openbookqa", splits=["test"], limit=10)

    assert rows(db, "SELECT split, count(*) FROM items GROUP BY split ORDER BY split") == [("test", 10), ("train", 1000)]


def test_failed_write_keeps_previous_rows(samples: Path, db: Path) -> None:
    ingest("arc_challenge", db=db, path=samples / "arc_challenge", limit=50)
    before = rows(db, "SELECT item_id, ingest_run_id FROM items ORDER BY item_id")
    collected = collect(get_benchmark("arc_challenge"), path=samples / "arc_challenge")
    # A staged batch that breaks the primary key fails inside the transaction, after its DELETE ran.
    collected.items = pl.concat([collected.items, collected.items.head(1)])

    with connect(db) as con, pytest.raises(duckdb.ConstraintException):
        write(con, collected)

    assert rows(db, "SELECT item_id, ingest_run_id FROM items ORDER BY item_id") == before


def test_malformed_rows_become_rejects_naming_the_row(tmp_path: Path, db: Path) -> None:
    data = tmp_path / "ARC-Challenge-Test.jsonl"
    lines = [
        arc_line(1),
        arc_line(2)[:40],  # truncated JSON
        arc_line(3, answerKey="E"),  # answer not among the labels
        json.dumps({k: v for k, v in json.loads(arc_line(4)).items() if k != "answerKey"}),  # missing answer
        arc_line(5, question={"stem": "Q?", "choices": [{"text": "", "label": "A"}, {"text": "x", "label": "B"}]}),
        arc_line(1),  # duplicate id
        arc_line(6, question={"stem": "Q?", "choices": [{"text": "only", "label": "A"}]}),
        arc_line(7),
    ]
    data.write_text("\n".join(lines) + "\n")

    result = ingest("arc_challenge", db=db, path=data)

    assert result.items == {"test": 2} and result.n_rejects == 6
    reasons = dict(rows(db, "SELECT row_ref, reason FROM ingest_rejects ORDER BY row_ref"))
    assert reasons["line 2"].startswith("invalid JSON")
    assert reasons["line 3"] == "answerKey 'E' is not one of the choice labels A, B, C"
    assert reasons["line 4"] == "missing field 'answerKey'"
    assert reasons["line 5"] == "choice 0 is empty"
    assert reasons["line 6"] == "duplicate id 'Q1' (first seen at ARC-Challenge-Test.jsonl line 1)"
    assert reasons["line 7"] == "needs at least two choices, found 1"
    assert rows(db, "SELECT DISTINCT source FROM ingest_rejects") == [("ARC-Challenge-Test.jsonl",)]


def test_labels_file_with_wrong_line_count(samples: Path, tmp_path: Path, db: Path) -> None:
    folder = tmp_path / "piqa"
    folder.mkdir()
    shutil.copy(samples / "piqa" / "dev.jsonl", folder / "dev.jsonl")
    labels = (samples / "piqa" / "dev-labels.lst").read_text().splitlines()
    (folder / "dev-labels.lst").write_text("\n".join(labels[:998]) + "\n")

    result = ingest("piqa", db=db, path=folder)

    assert result.items == {"validation": 998}
    assert rows(db, "SELECT row_ref, reason FROM ingest_rejects ORDER BY row_ref") == [
        ("line 1000", "no label: dev-labels.lst has only 998 lines"),
        ("line 999", "no label: dev-labels.lst has only 998 lines"),
    ]

    (folder / "dev-labels.lst").write_text("\n".join(labels + ["1"]) + "\n")
    result = ingest("piqa", db=db, path=folder)
    assert result.items == {"validation": 1000}
    assert rows(db, "SELECT source, row_ref, reason FROM ingest_rejects") == [
        ("dev-labels.lst", "line 1001", "label with no matching row (1000 rows in the data file)")]


def test_winogrande_answer_disagreeing_with_labels_file_is_rejected(samples: Path, tmp_path: Path, db: Path) -> None:
    folder = tmp_path / "winogrande"
    folder.mkdir()
    shutil.copy(samples / "winogrande" / "dev.jsonl", folder / "dev.jsonl")
    labels = (samples / "winogrande" / "dev-labels.lst").read_text().splitlines()
    labels[0] = "1" if labels[0] == "2" else "2"
    (folder / "dev-labels.lst").write_text("\n".join(labels) + "\n")

    result = ingest("winogrande", db=db, path=folder)

    assert result.items == {"validation": 766}
    [(ref, reason)] = rows(db, "SELECT row_ref, reason FROM ingest_rejects")
    assert ref == "line 1" and "disagrees with the labels file" in reason


def test_file_in_the_wrong_format_fails_naming_it_and_writes_nothing(samples: Path, tmp_path: Path, db: Path) -> None:
    wrong = tmp_path / "ARC-Challenge-Test.jsonl"
    shutil.copy(samples / "piqa" / "dev.jsonl", wrong)  # PIQA rows under an ARC name

    with pytest.raises(SourceFormatError, match=r"ARC-Challenge-Test\.jsonl has no valid row.*missing field"):
        ingest("arc_challenge", db=db, path=wrong)
    assert not db.exists()


def test_folder_without_release_files_fails_naming_it(samples: Path, tmp_path: Path, db: Path) -> None:
    with pytest.raises(SourceFormatError, match=r"arc_challenge: folder .*piqa holds no release file"):
        ingest("arc_challenge", db=db, path=samples / "piqa")
    lonely = tmp_path / "dev.jsonl"
    shutil.copy(samples / "piqa" / "dev.jsonl", lonely)
    with pytest.raises(SourceFormatError, match="dev.jsonl needs its labels file dev-labels.lst"):
        ingest("piqa", db=db, path=lonely)
    assert not db.exists()


def test_unknown_benchmark_names_the_close_match_and_writes_nothing(db: Path) -> None:
    with pytest.raises(UnknownBenchmarkError, match=r"unknown benchmark 'arc_chalenge'\. Did you mean 'arc_challenge'\?"):
        ingest("arc_chalenge", db=db)
    assert not db.exists()


def test_missing_split_is_named(samples: Path, db: Path) -> None:
    with pytest.raises(SourceFormatError, match="no file for split validation .* found splits test, train"):
        ingest("openbookqa", db=db, path=samples / "openbookqa", splits=["validation"])


def test_schema_is_migrated_once_and_versioned(db: Path) -> None:
    with connect(db) as con:
        first = con.execute("SELECT version, name FROM schema_migrations").fetchall()
    with connect(db) as con:
        second = con.execute("SELECT version, name FROM schema_migrations").fetchall()
    shipped = sorted(p.name for p in (Path(__file__).resolve().parents[1] / "warehouse" / "migrations").glob("*.sql"))
    assert first == second == [(int(name[:4]), name) for name in shipped]  # numbers may skip one reserved for later
