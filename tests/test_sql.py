"""`likra sql`: read-only, sandboxed SQL over the warehouse."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from pipelines.cli import main
from warehouse.errors import ReadOnlyViolation, WarehouseError
from warehouse.sql import run_query


@pytest.mark.parametrize("query", [
    "SELECT count(*) FROM items",
    "WITH x AS (SELECT gold FROM items) SELECT max(gold) FROM x",
    "FROM items SELECT item_id LIMIT 1",
    "SHOW TABLES",
    "DESCRIBE items",
    "SUMMARIZE items",
    "EXPLAIN SELECT * FROM items",
])
def test_reading_statements_run(demo_db: Path, query: str) -> None:
    assert run_query(query, demo_db).height >= 1


@pytest.mark.parametrize(("query", "kind"), [
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
])
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
