"""Likra runs in the warehouse: one row per run (its settings, training set and adapter folder), one per
checkpoint, and the weights w it is evaluated at. Rows are written through a `warehouse.sinks.Sink`."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import duckdb
import polars as pl

from likra.config import TrainConfig
from likra.heads import Checkpoint
from warehouse.errors import LikraError
from warehouse.location import DbRef
from warehouse.paths import data_dir


class RunError(LikraError):
    """A run that does not exist, or a name already used by a run with other settings."""


@dataclass(frozen=True)
class Run:
    """A Likra run: what it trains on, with which settings, and where its adapters are."""

    run_id: str
    benchmark: str
    set_id: str
    config: TrainConfig
    model: str  # base weights and dtype, as `choice_scores.model`
    out_dir: Path

    @property
    def fewshot(self) -> int:
        """Exemplars before each evaluation prompt."""
        return self.config.eval_fewshot(self.benchmark)

    @property
    def heads(self) -> tuple[str, ...]:
        """The heads this run trains."""
        return {"both": ("positive", "negative"), "neg": ("negative",), "pos": ("positive",)}[self.config.heads]


def default_name(benchmark: str, config: TrainConfig, set_id: str, model: str) -> str:
    """`<benchmark>-<policy>-<hash>`: the same settings, data and model always name the same run."""
    digest = hashlib.sha256(json.dumps([config.digest(), set_id, model]).encode()).hexdigest()[:10]
    return f"{benchmark}-{config.policy}-{digest}"


_RUN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@+-]{0,199}")


def check_run_name(name: str) -> None:
    """Refuse a --name that is no plain folder name: it names the run's folder under `likra/`, and '../x' or '/x'
    would put the adapters anywhere."""
    if not _RUN_NAME.fullmatch(name) or ".." in name:
        raise RunError(
            f"run name {name!r} is not a plain name: use letters, digits and _ . @ + - (no '/' or '..'), "
            "at most 200 characters"
        )


def runs_dir(db: str | None = None) -> Path:
    """Where run folders live: `likra/` beside the warehouse."""
    return data_dir(db) / "likra"


def find_run(con: duckdb.DuckDBPyConnection, run_id: str, *, db: DbRef) -> Run | None:
    """The recorded run with this id, if any; its adapters beside the warehouse `db` when the recorded folder is
    gone (a warehouse moved or copied with its data folder)."""
    row = con.execute(
        "SELECT run_id, benchmark, set_id, config, model, out_dir FROM likra_runs WHERE run_id = ?", [run_id]
    ).fetchone()
    if row is None:
        return None
    out_dir, here = Path(row[5]), runs_dir(db) / row[0]
    if not out_dir.exists() and here.exists():
        out_dir = here
    return Run(row[0], row[1], row[2], TrainConfig(**json.loads(row[3])), row[4], out_dir)


def get_run(con: duckdb.DuckDBPyConnection, run_id: str, *, db: DbRef) -> Run:
    """The recorded run with this id; RunError naming the known ones otherwise."""
    run = find_run(con, run_id, db=db)
    if run is None:
        known = [r for (r,) in con.execute("SELECT run_id FROM likra_runs ORDER BY started_at DESC LIMIT 5").fetchall()]
        hint = f"; recent runs: {', '.join(known)}" if known else "; train one with `likra train BENCHMARK`"
        raise RunError(f"no Likra run {run_id!r}{hint}")
    return run


def check_same_settings(existing: Run, run: Run) -> None:
    """A name names one run: reusing it with other training settings, data or model is an error."""
    before, after = existing.config.training_settings(), run.config.training_settings()
    changed = [
        f"{k}: {before.get(k)!r} -> {after.get(k)!r}"
        for k in sorted(set(before) | set(after))
        if before.get(k) != after.get(k)
    ]
    if existing.set_id != run.set_id:
        changed.append(f"training set: {existing.set_id} -> {run.set_id}")
    if existing.model != run.model:
        changed.append(f"model: {existing.model} -> {run.model}")
    if changed:
        raise RunError(
            f"run {run.run_id!r} was trained with other settings ({'; '.join(changed)}): resume it with "
            "the same settings, or give the new run another --name"
        )


def run_frame(run: Run, started_at: datetime, finished_at: datetime | None) -> pl.DataFrame:
    """The run's row of `likra_runs`."""
    return pl.DataFrame(
        [
            {
                "run_id": run.run_id,
                "benchmark": run.benchmark,
                "set_id": run.set_id,
                "policy": run.config.policy,
                "model": run.model,
                "heads": run.config.heads,
                "config": run.config.model_dump_json(),
                "config_hash": run.config.digest(),
                "out_dir": str(run.out_dir),
                "started_at": started_at,
                "finished_at": finished_at,
            }
        ],
        schema_overrides={"finished_at": pl.Datetime("us")},
    )


def checkpoint_frame(run_id: str, checkpoints: list[Checkpoint]) -> pl.DataFrame:
    """Rows of `likra_checkpoints`."""
    return pl.DataFrame(
        {
            "run_id": run_id,
            "head": [c.head for c in checkpoints],
            "n_examples": [c.n_examples for c in checkpoints],
            "adapter": [c.adapter for c in checkpoints],
            "path": [str(c.path) for c in checkpoints],
            "loss": [c.loss for c in checkpoints],
            "seconds": [c.seconds for c in checkpoints],
            "created_at": datetime.now(),
        },
        schema_overrides={"n_examples": pl.Int32, "loss": pl.Float64, "seconds": pl.Float64},
    )


def weights_frame(run_id: str, weights: list[float]) -> pl.DataFrame:
    """Rows of `likra_weights`."""
    return pl.DataFrame({"run_id": run_id, "w": [float(w) for w in weights]})


def recorded_checkpoints(con: duckdb.DuckDBPyConnection, run: Run) -> list[Checkpoint]:
    """The run's checkpoints as recorded, by head and size, found in the run's folder (`<head>/n-<size>`) when the
    recorded path is gone (see `find_run`)."""
    rows = con.execute(
        "SELECT head, n_examples, path, adapter, loss, seconds FROM likra_checkpoints "
        "WHERE run_id = ? ORDER BY head DESC, n_examples",
        [run.run_id],
    ).fetchall()
    found = []
    for head, n, recorded, adapter, loss, seconds in rows:
        path = Path(recorded)
        if not path.exists():
            path = run.out_dir / Path(*path.parts[-2:])
        found.append(Checkpoint(head, n, path, adapter, loss, seconds))
    return found


def list_runs(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """Every run with its checkpoints and, where evaluated, its best Likra and SFT accuracy."""
    return con.execute("""
        SELECT r.run_id AS run, r.benchmark, r.policy, r.heads, r.model,
               (SELECT array_to_string(list_sort(list(DISTINCT n_examples)), ',')
                  FROM likra_checkpoints c WHERE c.run_id = r.run_id) AS sizes,
               (SELECT max(acc) FROM likra_eval e WHERE e.run = r.run_id AND e.mode = 'likra') AS best_likra_acc,
               (SELECT max(acc) FROM likra_eval e WHERE e.run = r.run_id AND e.mode = 'sft') AS best_sft_acc,
               CASE WHEN r.finished_at IS NULL THEN 'training' ELSE 'trained' END AS status, r.started_at
        FROM likra_runs r ORDER BY r.started_at DESC""").pl()
