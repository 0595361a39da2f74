"""`likra sql`: read-only, sandboxed SQL over the warehouse."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import threading
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner

from pipelines.cli import main
from warehouse.errors import ReadOnlyViolation, WarehouseError
from warehouse.sql import check_read_only, run_query


@pytest.mark.parametrize(
    "query",
    [
        "SELECT count(*) FROM items",
        "WITH x AS (SELECT gold FROM items) SELECT max(gold) FROM x",
        "FROM items SELECT item_id LIMIT 1",
        "SHOW TABLES",
        "DESCRIBE items",
        "SUMMARIZE items",
        "EXPLAIN SELECT * FROM items",
    ],
)
def test_reading_statements_run(demo_db: Path, query: str) -> None:
    assert run_query(query, demo_db).height >= 1


@pytest.mark.parametrize(
    ("query", "kind"),
    [
        ("INSERT INTO items SELECT * FROM items", "INSERT"),
        ("UPDATE items SET gold = 0", "UPDATE"),
        ("DELETE FROM items", "DELETE"),
        ("DROP TABLE items", "DROP"),
        ("CREATE TABLE t AS SELECT 1", "CREATE"),
        ("ATTACH 'other.duckdb' AS other", "ATTACH"),
        ("COPY items TO 'items.csv'", "COPY"),
        ("EXPORT DATABASE 'dump'", "EXPORT"),
        ("INSTALL httpfs", "LOAD"),
        ("LOAD fts", "LOAD"),
        ("SET enable_external_access = true", "SET"),
        ("CALL start_ui()", "CALL"),
        ("CHECKPOINT", "CALL"),
    ],
)
def test_writing_statements_are_refused(demo_db: Path, query: str, kind: str) -> None:
    with pytest.raises(ReadOnlyViolation, match=f"refused: {kind} statements are not allowed"):
        run_query(query, demo_db)


def test_reading_files_outside_the_warehouse_is_refused(demo_db: Path, tmp_path: Path) -> None:
    secret = tmp_path / "secret.csv"
    secret.write_text("a\n1\n")
    for query in (f"SELECT * FROM read_csv('{secret}')", f"SELECT * FROM '{secret}'"):
        with pytest.raises(ReadOnlyViolation, match="reaches outside the warehouse"):
            run_query(query, demo_db)


def test_one_statement_at_a_time(demo_db: Path) -> None:
    with pytest.raises(ReadOnlyViolation, match="exactly one statement"):
        run_query("SELECT 1; DROP TABLE items", demo_db)


def test_errors_name_the_problem(demo_db: Path, tmp_path: Path) -> None:
    with pytest.raises(WarehouseError, match="SQL syntax error"):
        run_query("SELEC 1", demo_db)
    with pytest.raises(WarehouseError, match="query failed: .*no_such_table"):
        run_query("SELECT * FROM no_such_table", demo_db)
    with pytest.raises(WarehouseError, match="no warehouse at .*missing.duckdb"):
        run_query("SELECT 1", tmp_path / "missing.duckdb")


def test_cli_prints_an_aligned_table_and_exits_2_on_writes(demo_db: Path) -> None:
    runner = CliRunner()
    shown = runner.invoke(main, ["sql", "SELECT split, count(*) AS n FROM items GROUP BY split", "--db", str(demo_db)])
    assert shown.exit_code == 0
    assert shown.output.splitlines() == ["split      n", "-------  ---", "test      40", "(1 row)"]

    refused = runner.invoke(main, ["sql", "DELETE FROM items", "--db", str(demo_db)])
    assert refused.exit_code == 2
    assert "error: refused: DELETE statements are not allowed" in refused.output
    assert run_query("SELECT count(*) AS n FROM items", demo_db)["n"][0] == 40


def test_cli_csv_and_json_formats(demo_db: Path) -> None:
    runner = CliRunner()
    query = "SELECT item_id, choices, gold FROM items ORDER BY item_id LIMIT 2"
    as_json = json.loads(runner.invoke(main, ["sql", query, "--db", str(demo_db), "--format", "json"]).output)
    assert as_json[0] == {"item_id": "demo/test/demo-001", "choices": ["newton", "joule", "watt", "pascal"], "gold": 0}
    as_csv = runner.invoke(main, ["sql", query, "--db", str(demo_db), "--format", "csv"]).output.splitlines()
    assert as_csv[0] == "item_id,choices,gold"
    assert as_csv[1] == 'demo/test/demo-001,"[""newton"", ""joule"", ""watt"", ""pascal""]",0'


LONG_QUERY = "SELECT sum(a.range * b.range) FROM range(1000000) a, range(1000000) b"  # 10^12 rows: minutes


def _one_line(output: str) -> str:
    assert "Traceback" not in output and output.count("\n") == 1, output
    return output.rstrip("\n")


@pytest.mark.timeout(120)
def test_a_query_past_its_timeout_is_interrupted(demo_db: Path) -> None:
    result = CliRunner().invoke(main, ["sql", LONG_QUERY, "--timeout", "0.5", "--db", str(demo_db)])
    assert result.exit_code == 1
    assert _one_line(result.output) == (
        "error: query stopped after 0.5s (--timeout); narrow it, or give a larger --timeout (0: no limit)"
    )


@pytest.mark.timeout(120)
def test_ctrl_c_interrupts_a_running_query(demo_db: Path) -> None:
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)  # even where SIGINT was ignored
    timer = threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGINT))
    try:
        timer.start()
        result = CliRunner().invoke(main, ["sql", LONG_QUERY, "--timeout", "0", "--db", str(demo_db)])
    finally:
        timer.cancel()
        signal.signal(signal.SIGINT, previous)
    assert result.exit_code == 130
    assert _one_line(result.output) == "error: interrupted (Ctrl-C)"


def test_import_database_is_refused_before_duckdb_reads_the_folder(demo_db: Path, tmp_path: Path) -> None:
    # DuckDB reads <folder>/schema.sql while it parses IMPORT: a missing one would fail in the parser.
    with pytest.raises(ReadOnlyViolation, match="refused: IMPORT statements are not allowed"):
        check_read_only(f"IMPORT DATABASE '{tmp_path / 'no-such-dump'}'")


def test_a_single_pivot_runs(demo_db: Path) -> None:
    frame = run_query("PIVOT items ON split USING count(*) GROUP BY benchmark", demo_db)
    assert frame.rows() == [("demo", 40)]


def test_a_pivot_followed_by_another_statement_is_refused(demo_db: Path) -> None:
    with pytest.raises(ReadOnlyViolation, match=r"exactly one statement \(found 2\)"):
        run_query("PIVOT items ON split USING count(*); DROP TABLE items", demo_db)


def test_duckdb_errors_are_one_line(demo_db: Path) -> None:
    with pytest.raises(WarehouseError) as syntax:
        run_query("SELEC 1", demo_db)
    with pytest.raises(WarehouseError) as missing:
        run_query("SELECT no_such_function(1)", demo_db)
    assert "\n" not in str(syntax.value) and "\n" not in str(missing.value)


REFUSED = [
    "INSERT INTO items SELECT * FROM items",
    "UPDATE items SET gold = 0",
    "DELETE FROM items",
    "CREATE TABLE t AS SELECT 1",
    "CREATE VIEW v AS SELECT 1",
    "ALTER TABLE items ADD COLUMN x INTEGER",
    "DROP TABLE items",
    "ATTACH '{folder}/other.duckdb' AS other",
    "COPY items TO '{folder}/items.csv'",
    "EXPORT DATABASE '{folder}/dump'",
    "IMPORT DATABASE '{folder}/dump'",
    "INSTALL httpfs",
    "LOAD fts",
    "SET enable_external_access = true",
    "SET lock_configuration = false",
    "SELECT * FROM read_csv('{folder}/secret.csv')",
    "SELECT * FROM read_parquet('{folder}/secret.parquet')",
    "SELECT * FROM read_text('{folder}/secret.csv')",
    "SELECT * FROM glob('{folder}/*')",
    "SELECT * FROM '{folder}/secret.csv'",
    "SELECT 1; DELETE FROM items",
]


@pytest.mark.parametrize("query", REFUSED)
def test_cli_refuses_writes_and_outside_files_with_exit_2_and_no_change(
    demo_db: Path, tmp_path: Path, query: str
) -> None:
    folder = tmp_path / "outside"
    folder.mkdir()
    (folder / "secret.csv").write_text("a\n1\n")
    pl.DataFrame({"a": [1]}).write_parquet(folder / "secret.parquet")
    before = hashlib.sha256(demo_db.read_bytes()).hexdigest()

    result = CliRunner().invoke(main, ["sql", query.format(folder=folder), "--db", str(demo_db)])

    assert result.exit_code == 2, result.output
    assert _one_line(result.output).startswith("error: refused: ")
    assert hashlib.sha256(demo_db.read_bytes()).hexdigest() == before
    assert sorted(p.name for p in folder.iterdir()) == ["secret.csv", "secret.parquet"]


def test_printing_is_capped_and_said_so_and_the_timeout_covers_it(demo_db: Path) -> None:
    import time

    from click.testing import CliRunner

    from pipelines.cli import main

    started = time.monotonic()
    result = CliRunner().invoke(
        main,
        ["sql", "SELECT range, repeat(chr(65), 50) AS a FROM range(3000000)", "--timeout", "5", "--db", str(demo_db)],
    )

    assert result.exit_code == 0, result.output
    assert time.monotonic() - started < 5  # three million rows were not fetched, nor printed
    assert "(1000 rows)" in result.output and "the first 1,000 rows; the query has more" in result.output
    every = CliRunner().invoke(
        main, ["sql", "SELECT range FROM range(25000)", "--format", "csv", "--max-rows", "0", "--db", str(demo_db)]
    )
    assert every.output.splitlines() == ["range", *map(str, range(25000))]
