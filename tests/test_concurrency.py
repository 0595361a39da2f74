"""Concurrency: several Dagster runs at once on one instance (the repository's dagster.yaml: pool `warehouse_writer`
limited to one step), each through the multiprocess executor, and `likra` commands beside them. DuckDB allows one
writer process per file: the pool keeps the runs' writers apart, and a command meeting a writer waits (and says
so) or stops with one line; no row is lost or duplicated."""

from __future__ import annotations

import json
import selectors
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import dagster as dg
import pytest
from pipeline_runs import MINING_ASSET_NAMES
from tiny_models import save_tiny_model
from warehouse_checks import (
    REPO,
    cli,
    cli_env,
    dagster_materialize,
    duplicate_keys,
    negatives_by_run,
    query,
    run_cli,
)

from pipelines.defs.partitions import benchmark_partitions
from warehouse.ingest import ingest

LIMIT = 900  # seconds; a safety limit, nothing asserts on speed
MULTIPROCESS = {"execution": {"config": {"multiprocess": {"max_concurrent": 4}}}}


@pytest.fixture()
def instance(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, samples: Path) -> dg.DagsterInstance:
    """The repository's dagster.yaml in a fresh DAGSTER_HOME, which is also the working directory (the file's
    relative paths are resolved against it)."""
    home = tmp_path / "dagster-home"
    home.mkdir()
    shutil.copy(REPO / "dagster.yaml", home / "dagster.yaml")
    monkeypatch.chdir(home)
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.setenv("LIKRA_BENCHMARKS_DIR", str(samples))
    with dg.DagsterInstance.get() as dagster_instance:
        yield dagster_instance


def materialize(
    select: list[str],
    partition: str,
    db: Path,
    log: Path,
    run_config: dict | None = None,
) -> subprocess.Popen:
    """`dagster asset materialize` of one partition in a subprocess: one run, on the instance in $DAGSTER_HOME."""
    config = {**MULTIPROCESS, **(run_config or {})}
    command = dagster_materialize("pipelines.definitions", select, partition, "--config-json", json.dumps(config))
    with log.open("w") as out:
        return subprocess.Popen(command, env=cli_env(LIKRA_DB=str(db)), stdout=out, stderr=subprocess.STDOUT)


def finish(runs: dict[str, subprocess.Popen], logs: Path) -> None:
    deadline = time.monotonic() + LIMIT
    for name, process in runs.items():
        try:
            process.wait(timeout=max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            for other in runs.values():
                other.kill()
            pytest.fail(f"run {name} did not finish within {LIMIT} s")
    failed = {name: (logs / f"{name}.log").read_text()[-3000:] for name, p in runs.items() if p.returncode != 0}
    assert not failed, failed


def engine_messages(instance: dg.DagsterInstance) -> list[str]:
    return [record.message or "" for run in instance.get_runs() for record in instance.all_logs(run.run_id)]


@pytest.mark.slow
def test_parallel_runs_of_several_partitions_and_the_mining_assets_complete_without_lock_errors(
    instance: dg.DagsterInstance, tmp_path: Path
) -> None:
    instance.add_dynamic_partitions(benchmark_partitions.name, ["arc_challenge", "piqa", "openbookqa", "demo"])
    db, model = tmp_path / "warehouse.duckdb", str(save_tiny_model(tmp_path / "tiny-llama"))
    mining = {
        "ops": {"base_scores": {"config": {"model": model}}},
        "resources": {"mining": {"config": {"scorer_model": model, "k": 3}}},
    }
    runs = {
        name: materialize(["items"], name, db, tmp_path / f"{name}.log")
        for name in ("arc_challenge", "piqa", "openbookqa")
    }
    runs["demo"] = materialize(MINING_ASSET_NAMES, "demo", db, tmp_path / "demo.log", mining)
    finish(runs, tmp_path)

    assert all(run.is_success for run in instance.get_runs()) and len(instance.get_runs()) == 4
    runs_spans = [(record.start_time, record.end_time) for record in instance.get_run_records()]
    assert max(sum(1 for s, e in runs_spans if s <= start < e) for start, _ in runs_spans) > 1  # they overlapped
    # The repository's pool was in force: writer steps of one run waited for another run's writer. (Dagster's SQLite
    # storage can let two steps claim the pool's one slot at the same instant; the warehouse then waits for
    # DuckDB's lock instead, which is why no step may fail on it.)
    assert any("Step blocked by limit for pool warehouse_writer" in message for message in engine_messages(instance))
    assert "is locked by another process" not in "".join((tmp_path / f"{name}.log").read_text() for name in runs)
    assert query(db, "SELECT benchmark, count(*) FROM items GROUP BY ALL ORDER BY ALL") == [
        ("arc_challenge", 1172),
        ("demo", 40),
        ("openbookqa", 1500),
        ("piqa", 1000),
    ]
    assert query(db, "SELECT count(*) FROM choice_scores") == [(160,)]
    [(_, negatives, recorded)] = negatives_by_run(db, "demo")
    assert recorded and negatives >= 3 * 40
    assert duplicate_keys(db) == {}


@pytest.mark.slow
def test_cli_commands_during_a_dagster_run_wait_or_fail_in_one_line_and_lose_no_rows(
    instance: dg.DagsterInstance, tmp_path: Path
) -> None:
    instance.add_dynamic_partitions(benchmark_partitions.name, ["arc_easy"])
    db, model = tmp_path / "warehouse.duckdb", str(save_tiny_model(tmp_path / "tiny-llama"))
    ingest("demo", db=db)
    run = materialize(
        ["items", "base_scores", "choice_scores"],
        "arc_easy",
        db,
        tmp_path / "arc_easy.log",
        {"ops": {"base_scores": {"config": {"model": model, "limit": 500}}}},
    )
    commands = [
        cli("sql", "SELECT count(*) AS n FROM items WHERE benchmark = 'demo'", "--db", str(db)),
        cli("ingest", "demo", "--db", str(db)),
    ]
    results: list[subprocess.CompletedProcess] = []

    def keep_running(command: list[str]) -> None:
        while run.poll() is None or len([r for r in results if r.args == command]) < 2:
            results.append(
                subprocess.run(command, env=cli_env(), capture_output=True, text=True, timeout=LIMIT, check=False)
            )

    threads = [threading.Thread(target=keep_running, args=(command,)) for command in commands]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    finish({"arc_easy": run}, tmp_path)

    for result in results:
        assert "Traceback" not in result.stderr, result.stderr
        errors = [line for line in result.stderr.splitlines() if not line.startswith("waiting for the warehouse lock")]
        if result.returncode == 0:
            assert errors == [], result.stderr
        else:
            assert result.returncode == 1 and len(errors) == 1 and "is locked by another process" in errors[0]
    assert any(r.returncode == 0 and r.stdout.splitlines()[2].strip() == "40" for r in results if "sql" in r.args)
    assert query(db, "SELECT benchmark, count(*) FROM items GROUP BY ALL ORDER BY ALL") == [
        ("arc_easy", 2000),
        ("demo", 40),
    ]
    assert query(db, "SELECT count(DISTINCT item_id) FROM choice_scores") == [(500,)]
    assert duplicate_keys(db) == {}


def hold_the_write_lock(db: Path) -> subprocess.Popen:
    """A process with the warehouse open read-write (as a pipeline writer step has), until told to close it."""
    code = (
        "import sys\nfrom warehouse.db import connect\ncon = connect(sys.argv[1])\n"
        "print('holding', flush=True)\nsys.stdin.readline()\ncon.close()"
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", code, str(db)], env=cli_env(), stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout.readline().strip() == "holding"
    return holder


def release(holder: subprocess.Popen) -> None:
    holder.stdin.write("\n")
    holder.stdin.flush()
    assert holder.wait(timeout=LIMIT) == 0


def first_line(stream, limit: float = LIMIT) -> str:
    selector = selectors.DefaultSelector()
    selector.register(stream, selectors.EVENT_READ)
    assert selector.select(timeout=limit), f"nothing written within {limit} s"
    return stream.readline()


def test_a_cli_command_waits_for_a_writer_and_says_so_on_stderr(db: Path) -> None:
    ingest("demo", db=db)
    holder = hold_the_write_lock(db)
    try:
        query_items = subprocess.Popen(
            cli("sql", "SELECT count(*) AS n FROM items", "--db", str(db)),
            env=cli_env(LIKRA_LOCK_WAIT=str(LIMIT)),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        notice = first_line(query_items.stderr)
    finally:
        release(holder)
    out, err = query_items.communicate(timeout=LIMIT)

    assert notice.startswith(f"waiting for the warehouse lock on {db}, held by another process")
    assert query_items.returncode == 0 and err == "" and out.splitlines()[2].strip() == "40"


def test_a_cli_command_gives_up_on_a_held_lock_with_one_line(db: Path) -> None:
    ingest("demo", db=db)
    [(ingested_at,)] = query(db, "SELECT max(ingested_at) FROM items")
    holder = hold_the_write_lock(db)
    try:
        result = run_cli("ingest", "demo", "--db", str(db), env=cli_env(LIKRA_LOCK_WAIT="1"), timeout=LIMIT)
    finally:
        release(holder)

    assert result.returncode == 1
    notice, error = result.stderr.splitlines()
    assert notice.startswith("waiting for the warehouse lock")
    assert error.startswith(f"error: warehouse {db} is locked by another process") and "LIKRA_LOCK_WAIT" in error
    assert query(db, "SELECT count(*), max(ingested_at) FROM items") == [(40, ingested_at)]
