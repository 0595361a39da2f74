"""Ingest + mine N benchmarks into a DuckDB file (one writer process after another) and into DuckLake on
PostgreSQL (2 writer processes at once), then time the near-miss queries of the docs on both.

Each benchmark is ingested and mined by a fresh process on either backend (so model and library loading
cost the same); mining's answer pool is the benchmark's own (`scope: benchmark`), so both warehouses get
the same rows. The scorer is a tiny random Llama unless --model names one: this measures the warehouse,
not the model. PostgreSQL is started as the tests start it (tests/postgres_server.py).

    python bench/ducklake_vs_file.py [--limit 25] [--writers 2] [--repeat 5] [--model smollm2]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests")]  # the worktree's packages, and the tests' server helper

BENCHMARKS = ["demo", "arc_easy", "arc_challenge", "openbookqa"]
SHARED = Path(os.environ.get("LIKRA_SHARED", REPO.parent / "shared"))

# The near-miss queries of docs/mining.md and docs/sql-cookbook.md.
QUERIES = {
    "near-misses preferred (rank 1)": "SELECT question, gold_answer, negative, origin, round(margin, 2) AS margin_nats "
    "FROM near_misses WHERE rank = 1 ORDER BY margin DESC LIMIT 10",
    "origin x tier counts": "SELECT origin, tier, count(*) FROM graded_negatives GROUP BY ALL ORDER BY ALL",
    "top PMI margins": "SELECT negative, gold_answer, margin_pmi FROM near_misses ORDER BY margin_pmi DESC LIMIT 10",
    "distractor quality": "SELECT benchmark, origin, count(*) AS negatives, "
    "round(avg((tier = 'near_miss')::DOUBLE), 3) AS near_miss_share, "
    "round(median(margin_per_token), 3) AS median_margin_per_token "
    "FROM graded_negatives GROUP BY benchmark, origin ORDER BY benchmark, origin",
    "shared negatives": "SELECT negative, count(DISTINCT item_id) AS questions, round(avg(sim_gold), 2) AS mean_sim, "
    "list(DISTINCT tier) AS tiers FROM graded_negatives WHERE origin <> 'own_distractor' "
    "GROUP BY negative HAVING count(DISTINCT item_id) > 1 ORDER BY questions DESC, negative LIMIT 15",
    "last mining summary": "SELECT summary FROM mining_runs ORDER BY finished_at DESC LIMIT 1",
}


def worker(db: str, model: str, k: int, limit: int, jobs: list[str]) -> None:
    """Ingest and mine each `name=path` job in turn; print one JSON line of timings per benchmark."""
    from mining.config import MiningConfig
    from mining.run import mine_benchmark
    from warehouse.ingest import ingest

    for job in jobs:
        name, _, path = job.partition("=")
        started = time.perf_counter()
        ingest(name, db=db, path=path or None, limit=limit)
        ingested = time.perf_counter()
        summary = mine_benchmark(name, db=db, config=MiningConfig(scorer_model=model, k=k))
        print(
            json.dumps(
                {
                    "benchmark": name,
                    "ingest_s": ingested - started,
                    "mine_s": time.perf_counter() - ingested,
                    "negatives": summary.negatives,
                }
            ),
            flush=True,
        )


def run_writers(db: str, lanes: list[list[str]], args: argparse.Namespace) -> tuple[float, list[dict]]:
    """One process per lane, all at once (each lane's benchmarks one after another); wall seconds and timings."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    started = time.perf_counter()
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                __file__,
                "--worker",
                db,
                "--model",
                args.model,
                "--k",
                str(args.k),
                "--limit",
                str(args.limit),
                *lane,
            ],
            env=env,
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for lane in lanes
    ]
    outputs = [(p, *p.communicate()) for p in procs]
    wall = time.perf_counter() - started
    for process, _, err in outputs:
        if process.returncode:
            sys.exit(f"a writer failed on {db}:\n{err[-3000:]}")
    return wall, [json.loads(line) for _, out, _ in outputs for line in out.splitlines() if line.startswith("{")]


def time_queries(db: str, repeat: int) -> dict[str, float]:
    """Median milliseconds of each query over `repeat` runs on one read-only connection (after one warm-up)."""
    from warehouse.db import connect_read_only

    times: dict[str, float] = {}
    with connect_read_only(db) as con:
        for name, sql in QUERIES.items():
            con.execute(sql).fetchall()
            runs = []
            for _ in range(repeat):
                started = time.perf_counter()
                con.execute(sql).fetchall()
                runs.append((time.perf_counter() - started) * 1000)
            times[name] = statistics.median(runs)
    return times


def open_ms(db: str, repeat: int) -> float:
    """Median milliseconds to open a read-only connection (DuckLake attaches its catalog each time)."""
    from warehouse.db import connect_read_only

    runs = []
    for _ in range(repeat):
        started = time.perf_counter()
        connect_read_only(db).close()
        runs.append((time.perf_counter() - started) * 1000)
    return statistics.median(runs)


def counts(db: str) -> tuple[int, int]:
    from warehouse.db import connect_read_only

    with connect_read_only(db) as con:
        return (
            con.execute("SELECT count(*) FROM items").fetchone()[0],
            con.execute("SELECT count(*) FROM graded_negatives").fetchone()[0],
        )


def row(label: str, file_value: float, lake_value: float, unit: str) -> str:
    ratio = lake_value / file_value if file_value else float("nan")
    verdict = "DuckLake slower" if ratio > 1.05 else ("DuckLake faster" if ratio < 0.95 else "same")
    return f"| {label} | {file_value:.1f} {unit} | {lake_value:.1f} {unit} | {ratio:.2f} | {verdict} |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--benchmarks", nargs="+", default=BENCHMARKS)
    parser.add_argument("--limit", type=int, default=25, help="items per split ingested")
    parser.add_argument("--writers", type=int, default=2, help="concurrent DuckLake writer processes")
    parser.add_argument("--k", type=int, default=3, help="cross-question candidates per item")
    parser.add_argument("--repeat", type=int, default=5, help="runs per query timing")
    parser.add_argument("--model", default="", help="scorer model (default: a tiny random Llama)")
    parser.add_argument("--worker", metavar="DB", help=argparse.SUPPRESS)
    parser.add_argument("jobs", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(args.worker, args.model, args.k, args.limit, args.jobs)

    from postgres_server import find_bin_dir, start_server

    bin_dir = find_bin_dir()
    if bin_dir is None:
        sys.exit("PostgreSQL server binaries (initdb, pg_ctl) not found: apt-get install postgresql")
    folder = Path(tempfile.mkdtemp(prefix="likra-bench-"))
    if not args.model:
        from tiny_models import save_tiny_model

        args.model = str(save_tiny_model(folder / "tiny-llama"))
    jobs = [f"{name}={'' if name == 'demo' else SHARED / 'data' / 'benchmarks' / name}" for name in args.benchmarks]
    server = start_server(bin_dir)
    try:
        file_db = str(folder / "warehouse.duckdb")
        lake = f"ducklake:postgres:{server.database()}?data_path={folder / 'lake-data'}"
        file_wall, file_runs = run_writers(file_db, [jobs], args)  # one writer process at a time
        lanes = [jobs[i :: args.writers] for i in range(args.writers)]
        lake_wall, lake_runs = run_writers(lake, lanes, args)
        file_queries, lake_queries = time_queries(file_db, args.repeat), time_queries(lake, args.repeat)
        file_open, lake_open = open_ms(file_db, args.repeat), open_ms(lake, args.repeat)
        file_counts, lake_counts = counts(file_db), counts(lake)
    finally:
        server.stop()

    print(
        f"{len(jobs)} benchmarks, --limit {args.limit} items per split, k={args.k}, {os.cpu_count()} CPUs; "
        f"items/negatives: file {file_counts}, DuckLake {lake_counts}"
    )
    print(f"| measure | DuckDB file (serial) | DuckLake+PostgreSQL ({args.writers} writers) | lake/file | |")
    print("|---|---|---|---|---|")
    print(row("ingest + mine, wall", file_wall, lake_wall, "s"))
    for name, key in (("ingest, sum over benchmarks", "ingest_s"), ("mine, sum over benchmarks", "mine_s")):
        print(row(name, sum(r[key] for r in file_runs), sum(r[key] for r in lake_runs), "s"))
    print(row("open read-only connection", file_open, lake_open, "ms"))
    for name in QUERIES:
        print(row(f"query: {name}", file_queries[name], lake_queries[name], "ms"))


if __name__ == "__main__":
    main()
