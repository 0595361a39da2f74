"""Ingestion writes: idempotent replacement, rejects that name the row, clear errors that write nothing."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb
import polars as pl
import pytest

from warehouse.db import connect, connect_read_only
from warehouse.errors import SourceFormatError, UnknownBenchmarkError, WarehouseError
from warehouse.ingest import collect, ingest, write
from warehouse.sources import get_benchmark

ARC_ROW = {
    "id": "Q{n}",
    "question": {
        "stem": "Which planet is red?",
        "choices": [{"text": "Mars", "label": "A"}, {"text": "Venus", "label": "B"}, {"text": "Jupiter", "label": "C"}],
    },
    "answerKey": "A",
}


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
    ingest("openbookqa", db=db, path=samples / "openbookqa", splits=["test"], limit=10, replace=True)

    assert rows(db, "SELECT split, count(*) FROM items GROUP BY split ORDER BY split") == [
        ("test", 10),
        ("train", 1000),
    ]


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
        ("dev-labels.lst", "line 1001", "label with no matching row (1000 rows in the data file)")
    ]


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
    with pytest.raises(
        UnknownBenchmarkError, match=r"unknown benchmark 'arc_chalenge'\. Did you mean 'arc_challenge'\?"
    ):
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
    assert first == second == [(n + 1, name) for n, name in enumerate(shipped)]


@pytest.mark.parametrize("content", [b"", b"\n\n   \n\t\n"], ids=["empty", "blank_lines"])
def test_a_file_without_rows_fails_naming_it_and_keeps_the_split(tmp_path: Path, db: Path, content: bytes) -> None:
    data = tmp_path / "ARC-Challenge-Test.jsonl"
    data.write_text("\n".join(arc_line(n) for n in range(5)) + "\n")
    ingest("arc_challenge", db=db, path=data)
    data.write_bytes(content)

    with pytest.raises(SourceFormatError, match=r"ARC-Challenge-Test\.jsonl has no rows; nothing was changed"):
        ingest("arc_challenge", db=db, path=data)

    assert rows(db, "SELECT count(*) FROM items") == [(5,)]


def test_a_split_full_at_its_limit_does_not_read_the_next_file(samples: Path, db: Path) -> None:
    result = ingest("mmlu", db=db, path=samples / "mmlu", splits=["dev"], limit=3)
    assert result.items == {"dev": 3}


def test_byte_order_mark_and_crlf_are_read_as_plain_lines(tmp_path: Path, db: Path) -> None:
    data = tmp_path / "ARC-Challenge-Test.jsonl"
    data.write_bytes(b"\xef\xbb\xbf" + "\r\n".join(arc_line(n) for n in range(3)).encode() + b"\r\n")

    result = ingest("arc_challenge", db=db, path=data)

    assert result.items == {"test": 3} and result.n_rejects == 0


def test_a_line_that_is_not_utf8_is_rejected_alone(tmp_path: Path, db: Path) -> None:
    data = tmp_path / "ARC-Challenge-Test.jsonl"
    bad = arc_line(2).encode().replace(b"red", b"r\xffd")
    data.write_bytes(b"\n".join([arc_line(1).encode(), bad, arc_line(3).encode()]) + b"\n")

    result = ingest("arc_challenge", db=db, path=data)

    assert result.items == {"test": 2}
    assert rows(db, "SELECT row_ref, reason FROM ingest_rejects") == [
        ("line 2", "not UTF-8 text (byte 0xff at column 53)")
    ]


def test_a_labels_line_that_is_not_utf8_rejects_its_row(samples: Path, tmp_path: Path, db: Path) -> None:
    folder = tmp_path / "piqa"
    folder.mkdir()
    shutil.copy(samples / "piqa" / "dev.jsonl", folder / "dev.jsonl")
    labels = (samples / "piqa" / "dev-labels.lst").read_bytes().split(b"\n")
    labels[1] = b"\xfe"
    (folder / "dev-labels.lst").write_bytes(b"\xef\xbb\xbf" + b"\n".join(labels))

    result = ingest("piqa", db=db, path=folder)

    assert result.items == {"validation": 999}
    assert rows(db, "SELECT row_ref, reason FROM ingest_rejects") == [
        ("line 2", "label on line 2 of dev-labels.lst: not UTF-8 text (byte 0xfe at column 1)")
    ]


def test_invalid_json_reason_names_the_column_once(tmp_path: Path, db: Path) -> None:
    data = tmp_path / "ARC-Challenge-Test.jsonl"
    data.write_text(arc_line(1) + "\n" + '{"id": "Q2", "question": "unterminated\n')

    ingest("arc_challenge", db=db, path=data)

    assert rows(db, "SELECT reason FROM ingest_rejects") == [
        ("invalid JSON (Unterminated string starting at column 26)",)
    ]


def test_a_field_too_long_for_any_model_is_rejected(tmp_path: Path, db: Path) -> None:
    data = tmp_path / "ARC-Challenge-Test.jsonl"
    huge = json.dumps({**json.loads(arc_line(2)), "question": {**ARC_ROW["question"], "stem": "x" * 2_000_000}})
    data.write_text("\n".join([arc_line(1), huge, arc_line(3)]) + "\n")

    result = ingest("arc_challenge", db=db, path=data)

    assert result.items == {"test": 2}
    assert rows(db, "SELECT reason FROM ingest_rejects") == [
        ("prompt has 2,000,018 characters, over the limit of 1,000,000",)
    ]


def test_a_json_escape_that_is_not_unicode_is_rejected(tmp_path: Path, db: Path) -> None:
    data = tmp_path / "ARC-Challenge-Test.jsonl"
    data.write_text("\n".join([arc_line(1), arc_line(2).replace("Which", "\\ud800Which"), arc_line(3)]) + "\n")

    result = ingest("arc_challenge", db=db, path=data)

    assert result.items == {"test": 2}
    [(reason,)] = rows(db, "SELECT reason FROM ingest_rejects")
    assert reason.startswith("prompt is not valid Unicode text")


def test_a_warehouse_from_a_newer_toolkit_is_refused(db: Path) -> None:
    ingest("demo", db=db)
    with duckdb.connect(str(db)) as con:
        con.execute("INSERT INTO schema_migrations VALUES (99, '0099_future.sql', now()::TIMESTAMP)")
    message = r"has schema version 99, newer than this toolkit \(\d+\): upgrade likra-toolkit"
    with pytest.raises(WarehouseError, match=message):
        connect(db)
    with pytest.raises(WarehouseError, match=message):
        connect_read_only(db)


@pytest.mark.parametrize(
    ("content", "kind"),
    [
        (b"SQLite format 3\x00" + bytes(100), "a SQLite database"),
        (b"item_id,question\n", "another kind of file"),
        (b"", "empty"),
    ],
)
def test_a_file_that_is_not_a_warehouse_is_named(tmp_path: Path, content: bytes, kind: str) -> None:
    path = tmp_path / "other.db"
    path.write_bytes(content)
    for opener in (connect, connect_read_only):
        with pytest.raises(WarehouseError, match=rf"other\.db is not a DuckDB warehouse \(it is {kind}\)"):
            opener(path)
    assert path.read_bytes() == content


def test_a_warehouse_under_a_regular_file_is_named(tmp_path: Path) -> None:
    (tmp_path / "notes").write_text("a file\n")
    for opener in (connect, connect_read_only):
        with pytest.raises(WarehouseError, match=r"its parent .*notes is a file, not a folder"):
            opener(tmp_path / "notes" / "deeper" / "warehouse.duckdb")


_OPENED: list[str] = []


def _record_opens(event: str, args: tuple) -> None:
    if event == "open" and isinstance(args[0], (str, Path)):
        _OPENED.append(str(args[0]))


@pytest.mark.parametrize("benchmark", ["arc_challenge", "mmlu", "piqa", "truthfulqa_mc2"])
def test_each_release_file_is_read_once_so_its_hash_is_of_the_rows_stored(
    samples: Path, db: Path, benchmark: str
) -> None:
    folder = samples / ("truthfulqa" if benchmark.startswith("truthfulqa") else benchmark)
    if not _OPENED:
        import sys

        sys.addaudithook(_record_opens)  # stays for the session; it only appends to a list
    _OPENED.clear()

    ingest(benchmark, db=db, path=folder)

    opened = [path for path in _OPENED if path.startswith(str(folder))]
    assert opened and len(opened) == len(set(opened)), sorted(opened)  # a file swapped midway cannot mix versions
    sources = rows(db, "SELECT DISTINCT source FROM items WHERE benchmark = ?", benchmark)
    assert all("@sha256:" in source for (source,) in sources)


def test_millions_of_bad_lines_keep_counts_and_a_bounded_sample_of_rejects(tmp_path: Path, db: Path) -> None:
    from warehouse.ingest import MAX_STORED_REJECTS

    bad = MAX_STORED_REJECTS * 2 + 500
    folder = tmp_path / "arc"
    folder.mkdir()
    (folder / "ARC-Challenge-Test.jsonl").write_text("{not json\n" * bad + arc_line(1) + "\n")

    result = ingest("arc_challenge", db=db, path=folder)

    assert result.items == {"test": 1} and result.rejects == {"test": bad}
    assert rows(db, "SELECT count(*) FROM ingest_rejects") == [(MAX_STORED_REJECTS,)]
    assert rows(db, "SELECT n_rejects FROM ingest_runs") == [(bad,)]
    assert rows(db, "SELECT min(row_ref), max(reason LIKE 'invalid JSON%') FROM ingest_rejects") == [("line 1", True)]


def test_a_split_much_smaller_than_the_stored_one_needs_replace(samples: Path, db: Path) -> None:
    from warehouse.ingest import ReplaceRefused

    ingest("arc_challenge", db=db, path=samples / "arc_challenge")
    before = rows(db, "SELECT split, count(*) FROM items GROUP BY split ORDER BY split")

    with pytest.raises(ReplaceRefused, match=r"split 'test' holds 1,172 items .* with 1 \(--limit 1\)"):
        ingest("arc_challenge", db=db, path=samples / "arc_challenge", limit=1)
    assert rows(db, "SELECT split, count(*) FROM items GROUP BY split ORDER BY split") == before

    ingest("arc_challenge", db=db, path=samples / "arc_challenge", splits=["test"], limit=1, replace=True)
    assert rows(db, "SELECT count(*) FROM items WHERE split = 'test'") == [(1,)]
