"""Helpers of the concurrency, fault and UI tests: what must hold in a warehouse after crashes and concurrent
writers (checked through a read-only connection), and how their `likra` and Dagster subprocesses run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import IO, Any

import duckdb

REPO = Path(__file__).resolve().parents[1]

# The natural key of every table a crash or a second writer could duplicate. `text_embeddings` has no primary
# key (its writers skip cached keys themselves), so only this check guards it.
KEYS: dict[str, tuple[str, ...]] = {
    "items": ("item_id",),
    "loglik_cache": ("model", "adapter", "context_hash", "continuation_hash"),
    "choice_scores": ("item_id", "choice", "model", "adapter", "fewshot"),
    "score_runs": ("run_id",),
    "text_embeddings": ("model", "text_hash"),
    "candidates": ("item_id", "norm_hash"),
    "graded_negatives": ("item_id", "norm_hash"),
    "mining_runs": ("run_id",),
    "likra_training_rows": ("set_id", "head", "position"),
    "likra_runs": ("run_id",),
    "likra_checkpoints": ("run_id", "head", "n_examples"),
}


def query(db: Path, sql: str, *params) -> list[tuple]:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(sql, list(params)).fetchall()


def duplicate_keys(db: Path) -> dict[str, int]:
    """Rows beyond the first of their key, per table; empty when every key is unique."""
    found = {}
    with duckdb.connect(str(db), read_only=True) as con:
        for table, key in KEYS.items():
            columns = ", ".join(key)
            extra = con.execute(f"SELECT count(*) - count(DISTINCT ({columns})) FROM {table}").fetchone()[0]
            if extra:
                found[table] = extra
    return found


def negatives_by_run(db: Path, benchmark: str) -> list[tuple[str, int, bool]]:
    """(mining run, graded negatives, whether `mining_runs` records the run) for the benchmark's graded negatives."""
    return query(
        db,
        "SELECT g.mining_run_id, count(*), bool_or(r.run_id IS NOT NULL) FROM graded_negatives g "
        "LEFT JOIN mining_runs r ON r.run_id = g.mining_run_id WHERE g.benchmark = ? GROUP BY ALL",
        benchmark,
    )


def cli(*args: str) -> list[str]:
    """The `likra` command of this environment."""
    return [str(Path(sys.executable).parent / "likra"), *args]


def cli_env(**extra: str) -> dict[str, str]:
    """The environment of a `likra` subprocess: this checkout first on the path, offline."""
    path = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p)
    return {**os.environ, "PYTHONPATH": path, "HF_HUB_OFFLINE": "1", **extra}


def default_signals() -> None:
    """For subprocesses: the default SIGINT and SIGTERM, even when the tests run in a background job."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def run_cli(*args: str, env: dict[str, str] | None = None, **options: Any) -> subprocess.CompletedProcess[str]:
    """A `likra` command run to its end (in `cli_env()` unless `env` is given), its output captured as text."""
    return subprocess.run(
        cli(*args), env=cli_env() if env is None else env, capture_output=True, text=True, check=False, **options
    )


def dagster_materialize(module: str, select: list[str], partition: str, *options: str) -> list[str]:
    """The command line of `dagster asset materialize`: the `select`ed assets of one partition, defined in `module`."""
    return [
        sys.executable,
        "-m",
        "dagster",
        "asset",
        "materialize",
        "-m",
        module,
        "--select",
        ",".join(select),
        "--partition",
        partition,
        *options,
    ]


def start_in_session(command: list[str], log: IO, **options: Any) -> subprocess.Popen:
    """A subprocess writing into `log`, in a session of its own (its group's children stop with it), default signals."""
    return subprocess.Popen(
        command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, preexec_fn=default_signals, **options
    )
