"""The DuckLake backends: catalog in PostgreSQL (a real server per session) or in a local file. The same
pipeline gives the same rows as on a DuckDB file; concurrent writers lose and duplicate nothing; a DuckDB
warehouse moves into DuckLake without re-ingesting; `likra sql` stays read-only."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from warehouse_checks import KEYS, cli_env, run_cli

from mining.config import MiningConfig
from mining.run import mine_benchmark
from warehouse.db import connect, connect_read_only, warehouse_exists
from warehouse.ducklake import without_constraints
from warehouse.errors import ReadOnlyViolation, WarehouseError
from warehouse.ingest import ingest
from warehouse.keys import duplicate_keys
from warehouse.location import local_folder, parse_location
from warehouse.sql import run_query

# Run ids and clocks differ between any two runs; every other column must match.
COMPARED = {
    "items": ("item_id", "* EXCLUDE (ingest_run_id, ingested_at)"),
    "choice_scores": ("item_id, choice, model, adapter, fewshot", "* EXCLUDE (score_run_id, scored_at)"),
    "graded_negatives": ("item_id, norm_hash", "* EXCLUDE (mining_run_id)"),
}


def rows(db: str | Path, table: str) -> list[tuple]:
    order, columns = COMPARED[table]
    with connect_read_only(db) as con:
        return con.execute(f"SELECT {columns} FROM {table} ORDER BY {order}").fetchall()


def duplicates(db: str | Path) -> dict[str, int]:
    """Rows beyond the first of their natural key, per table."""
    keys = {**KEYS, "question_keys": ("text_hash",), "ingest_runs": ("run_id",)}
    with connect_read_only(db) as con:
        found = {
            table: con.execute(f"SELECT count(*) - count(DISTINCT ({', '.join(key)})) FROM {table}").fetchone()[0]
            for table, key in keys.items()
        }
    return {table: extra for table, extra in found.items() if extra}


def demo_pipeline(db: str | Path, model: str) -> float:
    """Ingest the demo benchmark, score it with `model` and mine it; seconds taken."""
    from likra.scoring.run import score_benchmark

    started = time.perf_counter()
    ingest("demo", db=db)
    score_benchmark("demo", db=db, model=model)
    mine_benchmark("demo", db=db, config=MiningConfig(scorer_model=model, k=5))
    return time.perf_counter() - started


def test_settings_name_a_file_or_a_ducklake_catalog(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert parse_location("data/w.duckdb").path == Path("data/w.duckdb")
    lake = parse_location("ducklake:postgres:dbname=lake host=db?data_path=/shared/lake")
    assert (lake.catalog, lake.data_path, lake.catalog_kind) == (
        "postgres:dbname=lake host=db",
        "/shared/lake/",
        "postgres",
    )
    assert parse_location("ducklake:cat.sqlite").catalog_kind == "sqlite"
    local = parse_location("ducklake:team/cat.ducklake")
    assert local.catalog_kind == "duckdb" and local_folder(local) == (tmp_path / "team").resolve()
    monkeypatch.setenv("LIKRA_DUCKLAKE_DATA", "files")
    assert parse_location("ducklake:postgres:dbname=x").data_path == str(tmp_path / "files") + "/"
    with pytest.raises(WarehouseError, match="dbname="):
        parse_location("ducklake:postgres:host=db")
    with pytest.raises(WarehouseError, match=r"\.ducklake or \.sqlite"):
        parse_location("ducklake:catalog.txt")


def test_migrations_lose_only_the_constraints_ducklake_lacks() -> None:
    ddl = without_constraints(
        "CREATE TABLE t (\n  a VARCHAR PRIMARY KEY,  -- the key\n"
        "  f VARCHAR NOT NULL CHECK (f IN ('x', 'y')),\n  b INTEGER,\n  PRIMARY KEY (a, b)\n);"
    )
    assert " ".join(ddl.split()) == "CREATE TABLE t ( a VARCHAR, f VARCHAR NOT NULL, b INTEGER );"


def test_a_catalog_file_warehouse_holds_every_table_and_view(tmp_path: Path) -> None:
    lake = f"ducklake:{tmp_path / 'team.ducklake'}"
    assert not warehouse_exists(lake)
    ingest("demo", db=lake)
    ingest("demo", db=lake)  # re-ingesting replaces, as on a file
    file_db = tmp_path / "warehouse.duckdb"
    connect(file_db).close()
    with connect_read_only(lake) as con, connect_read_only(file_db) as reference:
        names = "SELECT table_name, table_type FROM information_schema.tables WHERE table_catalog = current_database()"
        assert set(con.execute(names).fetchall()) - {("warehouse_writes", "BASE TABLE")} == set(
            reference.execute(names).fetchall()
        )
        assert con.execute("SELECT count(*), count(DISTINCT item_id) FROM items").fetchone() == (40, 40)
    assert (tmp_path / "team.ducklake.files").is_dir()  # DuckLake's default data path, beside the catalog


def test_demo_pipeline_gives_the_same_rows_on_ducklake_postgres(lake_pg: str, tmp_path: Path, tiny_model: str) -> None:
    file_db = tmp_path / "warehouse.duckdb"
    seconds_file = demo_pipeline(file_db, tiny_model)
    seconds_lake = demo_pipeline(lake_pg, tiny_model)
    print(
        f"demo pipeline (ingest, score, mine): DuckDB file {seconds_file:.1f}s, DuckLake+PostgreSQL {seconds_lake:.1f}s"
    )
    for table in COMPARED:
        expected = rows(file_db, table)
        assert expected, table
        assert rows(lake_pg, table) == expected, table
    assert duplicates(lake_pg) == {}


def test_sql_stays_read_only_on_ducklake(lake_pg: str) -> None:
    ingest("demo", db=lake_pg)
    assert run_query("SELECT count(*) AS n FROM items", lake_pg)["n"].to_list() == [40]
    for refused in ("DELETE FROM items", "ATTACH 'other.duckdb'", "CREATE TABLE t AS SELECT 1"):
        with pytest.raises(ReadOnlyViolation):
            run_query(refused, lake_pg)
    with pytest.raises(ReadOnlyViolation, match="outside the warehouse"):
        run_query("SELECT * FROM read_csv('/etc/hostname')", lake_pg)
    with pytest.raises(WarehouseError, match="read-only"):  # the catalog server is read-only from here too
        run_query(
            "SELECT * FROM postgres_execute('__ducklake_metadata_warehouse', 'DROP TABLE ducklake_table')", lake_pg
        )
    assert run_query("SELECT count(*) AS n FROM items", lake_pg)["n"].to_list() == [40]


def test_a_missing_catalog_is_named(postgres, tmp_path: Path) -> None:
    with pytest.raises(WarehouseError, match="no warehouse"):
        connect_read_only(f"ducklake:{tmp_path / 'none.ducklake'}")
    missing = f"ducklake:postgres:dbname=absent host=127.0.0.1 port={postgres.port} user=likra"
    with pytest.raises(WarehouseError, match="cannot open DuckLake warehouse"):
        connect_read_only(missing)
    assert not warehouse_exists(missing)


WRITER = """
import sys
from mining.config import MiningConfig
from mining.run import mine_benchmark
from warehouse.ingest import ingest
from warehouse.keys import duplicate_keys
db, benchmark, path, model = sys.argv[1:5]
ingest(benchmark, db=db, path=path or None, limit=12)
summary = mine_benchmark(benchmark, db=db, config=MiningConfig(scorer_model=model, k=3)) if model else None
print("mined", benchmark, summary.run_id, summary.negatives) if summary else print("ingested", benchmark)
"""


def run_writers(db: str, jobs: list[tuple[str, str, str]], tmp_path: Path) -> list[subprocess.CompletedProcess]:
    """Start one process per (benchmark, source path, scorer model) at once; wait for all."""
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, db, *job],
            env=cli_env(),
            cwd=tmp_path,
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        for job in jobs
    ]
    return [subprocess.CompletedProcess(p.args, p.wait(timeout=900), p.stdout.read()) for p in procs]


@pytest.mark.slow
def test_four_processes_ingest_and_mine_into_one_warehouse(
    lake_pg: str, tmp_path: Path, samples: Path, tiny_model: str
) -> None:
    jobs = [("demo", "", tiny_model)] + [
        (name, str(samples / name), tiny_model) for name in ("arc_easy", "arc_challenge", "openbookqa")
    ]
    started = time.perf_counter()
    done = run_writers(lake_pg, jobs, tmp_path)
    print(f"4 concurrent ingest+mine processes on DuckLake+PostgreSQL: {time.perf_counter() - started:.1f}s")
    for result in done:
        assert result.returncode == 0, result.stdout
    mined = [line.split()[1:] for result in done for line in result.stdout.splitlines() if line.startswith("mined ")]
    reference = tmp_path / "serial.duckdb"
    for benchmark, path, _ in jobs:  # the same items, one process after another, on a DuckDB file
        ingest(benchmark, db=reference, path=path or None, limit=12)
    assert rows(lake_pg, "items") == rows(reference, "items")
    # Mining's answer pool spans the benchmarks ingested when it ran, so its negatives depend on the order;
    # what must hold is that each process's rows are all there, once, beside the run that made them.
    with connect_read_only(lake_pg) as con:
        for benchmark, run_id, negatives in mined:
            stored = con.execute(
                "SELECT count(*), count(DISTINCT mining_run_id) FROM graded_negatives WHERE benchmark = ?", [benchmark]
            ).fetchone()
            assert stored == (int(negatives), 1), benchmark
            assert (
                con.execute(
                    "SELECT count(*) FROM mining_runs WHERE run_id = ? AND benchmark = ?", [run_id, benchmark]
                ).fetchone()[0]
                == 1
            )
        counts = dict(con.execute("SELECT benchmark, count(*) FROM items GROUP BY 1").fetchall())
        negatives = dict(con.execute("SELECT benchmark, count(*) FROM graded_negatives GROUP BY 1").fetchall())
        commits = con.execute("SELECT n_commits FROM warehouse_writes").fetchone()[0]
    print(f"items per benchmark {counts}, graded negatives {negatives}, {commits} write commits")
    assert len(mined) == 4 and all(negatives.values())
    assert duplicates(lake_pg) == {}


@pytest.mark.parametrize("catalog", ["postgres", "sqlite"])
def test_concurrent_ingests_of_one_benchmark_keep_one_copy(
    catalog: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    # Each writer deletes the benchmark's rows then inserts its own: without taking turns at commit, writers
    # that all found nothing to delete would each add a copy.
    lake = request.getfixturevalue("lake_pg") if catalog == "postgres" else f"ducklake:{tmp_path / 'lake.sqlite'}"
    done = run_writers(lake, [("demo", "", "")] * 4, tmp_path)
    for result in done:
        assert result.returncode == 0, result.stdout
    with connect_read_only(lake) as con:
        assert con.execute("SELECT count(*), count(DISTINCT item_id) FROM items").fetchone() == (12, 12)
        assert con.execute("SELECT count(*) FROM ingest_runs").fetchone()[0] == 4
    assert duplicates(lake) == {}


def test_a_file_warehouse_moves_into_ducklake_without_reingesting(
    lake_pg: str, tmp_path: Path, tiny_model: str
) -> None:
    file_db = tmp_path / "warehouse.duckdb"
    demo_pipeline(file_db, tiny_model)
    moved = run_cli("warehouse", "copy", "--db", str(file_db), "--to", lake_pg, cwd=tmp_path, timeout=600)
    assert moved.returncode == 0, moved.stderr
    assert "copied" in moved.stdout and "graded_negatives" in moved.stdout
    with connect_read_only(file_db) as source, connect_read_only(lake_pg) as target:
        tables = [
            name
            for (name,) in source.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_type = 'BASE TABLE' "
                "AND table_name <> 'schema_migrations'"
            ).fetchall()
        ]
        for table in tables:
            query = f"SELECT * FROM {table} ORDER BY ALL"
            assert target.execute(query).fetchall() == source.execute(query).fetchall(), table
        assert target.execute("SELECT count(*) FROM ingest_runs").fetchone()[0] == 1  # nothing ingested again
    again = run_cli("warehouse", "copy", "--db", str(file_db), "--to", lake_pg, cwd=tmp_path, timeout=600)
    assert again.returncode == 1 and "already has rows" in again.stderr
    # Mining on the moved warehouse finds its candidates unchanged: nothing is searched or embedded again.
    summary = mine_benchmark("demo", db=lake_pg, config=MiningConfig(scorer_model=tiny_model, k=5))
    assert summary.candidates_from is not None


def test_the_key_check_counts_what_only_the_writers_keep_unique_on_ducklake(tmp_path: Path) -> None:
    lake = f"ducklake:{tmp_path / 'team.ducklake'}"
    ingest("demo", db=lake)
    with connect(lake) as con:
        assert duplicate_keys(con, "items", "demo") == 0
        # DuckLake has no primary key to refuse a second row with the same id; the check must catch it.
        con.execute("INSERT INTO items SELECT * FROM items WHERE item_id = (SELECT min(item_id) FROM items)")
        assert duplicate_keys(con, "items", "demo") == 1
        assert duplicate_keys(con, "items", "arc_easy") == 0
        with pytest.raises(ValueError, match="no key is known for table 'mining_runs'"):
            duplicate_keys(con, "mining_runs", "demo")


def test_likra_heads_train_and_evaluate_on_a_ducklake_warehouse(tmp_path: Path, tiny_model: str) -> None:
    from likra.config import TrainConfig
    from likra.workflow import train_benchmark

    lake, file_db = f"ducklake:{tmp_path / 'team.ducklake'}", tmp_path / "warehouse.duckdb"
    config = TrainConfig(model=tiny_model, sizes=[4, 8], batch_size=4, weights=[0.0, 1.0])
    reports = {}
    for db in (lake, file_db):
        ingest("demo", db=db)
        reports[db] = train_benchmark("demo", config, db=db)
        again = train_benchmark("demo", config, db=db)  # a run that exists is reused, as on a file
        assert again.run.run_id == reports[db].run.run_id

    metrics = "SELECT n_examples, mode, w, n_items, acc FROM likra_eval ORDER BY ALL"
    with connect_read_only(lake) as con, connect_read_only(file_db) as reference:
        evaluated = con.execute(metrics).fetchall()
        assert len(evaluated) > 10 and evaluated == reference.execute(metrics).fetchall()
        assert con.execute("SELECT count(*) FROM likra_checkpoints").fetchone()[0] == 4
    assert not duplicates(lake)
