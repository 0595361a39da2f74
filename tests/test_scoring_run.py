"""Scoring benchmarks through the warehouse: stored scores, cache hits, chunked writes, clear errors."""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

import likra.scoring.cached as cached
from likra.models import ModelLoadError
from likra.scoring.run import score_benchmark
from pipelines.cli import main
from warehouse.db import connect
from warehouse.errors import WarehouseError
from warehouse.sinks import StagingSink, WarehouseSink, load_staged


def scores(db: Path) -> list[tuple]:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(
            "SELECT item_id, choice, loglik, n_tokens, is_greedy, n_chars, n_bytes "
            "FROM choice_scores ORDER BY item_id, choice"
        ).fetchall()


def test_scores_every_choice_and_reports_accuracy(demo_db: Path, tiny_model: str) -> None:
    report = score_benchmark("demo", db=demo_db, model=tiny_model)

    rows = scores(demo_db)
    assert report.n_items == 40 and report.n_requests == len(rows) == 160 and report.n_cached == 0
    assert report.accuracy["test"]["n"] == 40
    with duckdb.connect(str(demo_db), read_only=True) as con:
        [(acc, acc_norm, n)] = con.execute("SELECT acc, acc_norm, n_items FROM accuracy").fetchall()
        [(chars,)] = con.execute(
            "SELECT n_chars FROM choice_scores WHERE item_id = 'demo/test/demo-001' AND choice = 0"
        ).fetchall()
    assert (acc, acc_norm, n) == pytest.approx(
        (report.accuracy["test"]["acc"], report.accuracy["test"]["acc_norm"], 40)
    )
    assert chars == len("newton")


def test_second_run_is_all_cache_hits_without_loading_the_model(demo_db: Path, tiny_model: str, monkeypatch) -> None:
    score_benchmark("demo", db=demo_db, model=tiny_model)
    first = scores(demo_db)

    def no_model(*args, **kwargs):
        raise AssertionError("the model was loaded although every score was cached")

    monkeypatch.setattr(cached, "load_model", no_model)
    report = score_benchmark("demo", db=demo_db, model=tiny_model)

    assert report.n_cached == report.n_requests == 160 and report.forward_tokens == 0
    assert scores(demo_db) == first


def test_fewshot_scores_are_kept_apart_and_cached_by_context(demo_db: Path, tiny_model: str) -> None:
    zero = score_benchmark("demo", db=demo_db, model=tiny_model, limit=10)
    three = score_benchmark("demo", db=demo_db, model=tiny_model, fewshot=3, limit=10)
    assert three.n_cached == 0 and zero.n_cached == 0
    with duckdb.connect(str(demo_db), read_only=True) as con:
        counts = con.execute("SELECT fewshot, count(*) FROM choice_scores GROUP BY fewshot ORDER BY 1").fetchall()
    assert counts == [(0, 40), (3, 40)]


def test_a_killed_run_keeps_whole_items_only(demo_db: Path, tiny_model: str) -> None:
    class Killed(Exception):
        pass

    class DiesOnSecondChunk(WarehouseSink):
        chunks = 0

        def write(self, **frames):
            self.chunks += 1
            if self.chunks == 2:
                raise Killed
            super().write(**frames)

    with pytest.raises(Killed):
        score_benchmark("demo", db=demo_db, model=tiny_model, chunk_items=15, sink=DiesOnSecondChunk(demo_db))

    with duckdb.connect(str(demo_db), read_only=True) as con:
        per_item = con.execute("SELECT item_id, count(*) FROM choice_scores GROUP BY item_id").fetchall()
        cached = con.execute("SELECT count(*) FROM loglik_cache").fetchone()[0]
    assert len(per_item) == 15 and {n for _, n in per_item} == {4} and cached == 60
    resumed = score_benchmark("demo", db=demo_db, model=tiny_model, chunk_items=15)
    assert resumed.n_cached == 60 and len(scores(demo_db)) == 160


def test_staged_scores_load_into_the_warehouse(demo_db: Path, tiny_model: str, tmp_path: Path) -> None:
    staged = score_benchmark("demo", db=demo_db, model=tiny_model, limit=5, sink=StagingSink(tmp_path / "stage"))
    assert scores(demo_db) == []  # nothing written while scoring
    with connect(demo_db) as con:
        loaded = load_staged(con, tmp_path / "stage")
        runs = con.execute("SELECT run_id, n_requests FROM score_runs").fetchall()
    assert loaded["choice_scores"] == 20 and runs == [(staged.run_id, 20)] and len(scores(demo_db)) == 20


def test_errors_name_what_is_missing(db: Path, demo_db: Path, tmp_path: Path) -> None:
    with pytest.raises(WarehouseError, match="benchmark 'arc_easy' is not ingested yet: run `likra ingest arc_easy`"):
        score_benchmark("arc_easy", db=demo_db)
    with pytest.raises(ModelLoadError, match=r"model path .*no-such-model does not exist"):
        score_benchmark("demo", db=demo_db, model=str(tmp_path / "no-such-model"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelLoadError, match="has no config.json"):
        score_benchmark("demo", db=demo_db, model=str(tmp_path / "empty"))
    assert scores(demo_db) == []


def test_cli_score_prints_accuracy_and_throughput(demo_db: Path, tiny_model: str) -> None:
    result = CliRunner().invoke(main, ["score", "demo", "--model", tiny_model, "--limit", "8", "--db", str(demo_db)])
    assert result.exit_code == 0, result.output
    assert "demo: 8 items, 32 choices (0 cached, 0 truncated)" in result.output
    assert "acc_norm" in result.output
    # the rate is over scoring time alone, and the output says so beside the total and the load time
    assert re.search(
        r"-shot; \d+\.\ds in all \(model load \d+\.\ds, scoring \d+\.\ds at \d+\.\d choices/s, "
        r"\d+ tokens run\)",
        result.output,
    ), result.output
    again = CliRunner().invoke(main, ["score", "demo", "--model", tiny_model, "--limit", "8", "--db", str(demo_db)])
    assert "(32 cached" in again.output and "all cached" in again.output
