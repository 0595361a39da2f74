"""Exports: the rows a training set taught, as datasets other trainers read, and per-sample evaluation logs.

* preference pairs `prompt` / `chosen` / `rejected` (TRL's DPO, ORPO, CPO trainers, "standard" format):
  one per training question, the gold and the policy's negative after the same prompt;
* unpaired rows `prompt` / `completion` / `label` (TRL's KTO trainer): each positive row labelled true,
  each negative row false, in training order;
* per-sample logs in lm-evaluation-harness's `--log_samples` layout for one run, size, mode and w.

Completions keep their leading delimiter (" Mars"), as the scoring engine scores them.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable
from pathlib import Path

import duckdb
import polars as pl

from likra.data import eval_requests
from likra.evaluate import mode_scores
from likra.runs import Run
from warehouse.db import connect_read_only
from warehouse.errors import LikraError, one_line
from warehouse.items import read_items
from warehouse.location import DbRef
from warehouse.paths import checked_output


class ExportError(LikraError):
    """An export that lacks what it exports; the message says what to give or run."""


def set_rows(con: duckdb.DuckDBPyConnection, set_id: str) -> pl.DataFrame:
    """The recorded rows of a training set (both heads)."""
    return con.execute("SELECT * FROM likra_training_rows WHERE set_id = ? ORDER BY position, head DESC", [set_id]).pl()


def preference_pairs(rows: pl.DataFrame) -> pl.DataFrame:
    """One (prompt, chosen, rejected) row per training question, in training order."""
    positive = rows.filter(pl.col("head") == "positive").select(
        "position", "item_id", pl.col("context").alias("prompt"), pl.col("continuation").alias("chosen")
    )
    negative = rows.filter(pl.col("head") == "negative").select(
        "position", pl.col("continuation").alias("rejected"), pl.col("source").alias("rejected_source")
    )
    return (
        positive.join(negative, on="position")
        .sort("position")
        .select("prompt", "chosen", "rejected", "item_id", "position", "rejected_source")
    )


def unpaired_rows(rows: pl.DataFrame) -> pl.DataFrame:
    """One (prompt, completion, label) row per training row: positives true, negatives false."""
    return rows.sort("position", pl.col("head") == "negative").select(
        pl.col("context").alias("prompt"),
        pl.col("continuation").alias("completion"),
        (pl.col("head") == "positive").alias("label"),
        "item_id",
        "position",
        "source",
    )


def export_paths(stem: Path, suffixes: list[str], *, overwrite: bool = False) -> list[Path]:
    """The files an export writes, checked like every path written to; an existing one only with `overwrite`."""
    if stem.name in ("", ".", "..") or stem.is_dir():
        raise ExportError(f"export --out {stem} is a folder; give a path without suffix, e.g. {stem / 'pairs'}")
    paths = [Path(f"{stem}{suffix}") for suffix in suffixes]
    for path in paths:
        checked_output(path, "export")
        if path.exists() and not overwrite:
            raise ExportError(f"export {path} exists already; pass --overwrite to replace it, or choose another --out")
    return paths


def write_files(writers: dict[Path, Callable[[Path], None]]) -> list[Path]:
    """Each file written by its writer to a temporary file beside it, then all moved into place: a failed write
    (a full disk, a file size limit) leaves no file, half-written or replaced, and is one ExportError."""
    staged: dict[Path, Path] = {}
    try:
        for path, write in writers.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            staged[path] = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.partial")
            write(staged[path])
        for path, temporary in staged.items():
            temporary.replace(path)
    except (OSError, pl.exceptions.PolarsError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else one_line(exc)
        raise ExportError(f"cannot write export {next(iter(writers))}: {reason}; nothing was written") from exc
    finally:
        for temporary in staged.values():
            temporary.unlink(missing_ok=True)
    return list(writers)


def write_dataset(frame: pl.DataFrame, stem: Path, *, overwrite: bool = False) -> list[Path]:
    """The frame as `<stem>.jsonl` and `<stem>.parquet` (both load with `datasets.load_dataset`)."""
    jsonl, parquet = export_paths(stem, [".jsonl", ".parquet"], overwrite=overwrite)
    return write_files({jsonl: frame.write_ndjson, parquet: frame.write_parquet})


def _sha(value: object) -> str:
    return hashlib.sha256(json.dumps(value, ensure_ascii=False, sort_keys=True).encode()).hexdigest()


def log_samples(con: duckdb.DuckDBPyConnection, run: Run, n_examples: int, mode: str, w: float = 1.0) -> list[dict]:
    """One lm-eval sample record per evaluated item: the requests, each choice's score under the mode, acc, acc_norm."""
    run_id, fewshot = run.run_id, run.fewshot
    rows = con.execute(
        "SELECT item_id, choice, base, pos, neg, n_chars FROM likra_eval_choices "
        "WHERE run_id = ? AND n_examples = ? AND fewshot = ? ORDER BY item_id, choice",
        [run_id, n_examples, fewshot],
    ).fetchall()
    by_item: dict[str, list[tuple]] = {}
    for row in rows:
        by_item.setdefault(row[0], []).append(row)
    ordered = read_items(con, "item_id IN (SELECT unnest(?))", [list(by_item)])
    requests = {(r.item.item_id, r.choice): r.request for r in eval_requests(con, run.set_id, ordered, fewshot)}
    samples = []
    for doc_id, item in enumerate(ordered):
        choices = by_item[item.item_id]
        # At 0 examples the view gives the base scores as both heads' (untrained heads equal the base model).
        scores = [mode_scores(mode, base, pos, neg, w) for _, _, base, pos, neg, _ in choices]
        if any(score is None for score in scores):
            continue
        norms = [score / max(1, n_chars) for score, (*_, n_chars) in zip(scores, choices)]
        doc = {"item_id": item.item_id, "question": item.question, "choices": list(item.choices), "gold": item.gold}
        arguments = {
            f"gen_args_{c}": {
                "arg_0": requests[(item.item_id, c)].context,
                "arg_1": requests[(item.item_id, c)].continuation,
            }
            for c in range(len(item.choices))
        }
        samples.append(
            {
                "doc_id": doc_id,
                "doc": doc,
                "target": item.gold,
                "arguments": arguments,
                "resps": [[[score, False]] for score in scores],
                "filtered_resps": [[score, False] for score in scores],
                "filter": "none",
                "metrics": ["acc", "acc_norm"],
                "doc_hash": _sha(doc),
                "prompt_hash": _sha(arguments["gen_args_0"]["arg_0"]),
                "target_hash": _sha(str(item.gold)),
                "acc": float(scores.index(max(scores)) == item.gold),
                "acc_norm": float(norms.index(max(norms)) == item.gold),
                "likra": {"run": run_id, "n_examples": n_examples, "mode": mode, "w": w, "fewshot": fewshot},
            }
        )
    return samples


def write_samples(samples: list[dict], stem: Path, *, overwrite: bool = False) -> Path:
    """Per-sample records as JSON lines, in `<stem>.jsonl` (`stem` itself when it ends in .jsonl)."""
    [path] = export_paths(stem.with_suffix("") if stem.suffix == ".jsonl" else stem, [".jsonl"], overwrite=overwrite)
    text = "".join(json.dumps(s, ensure_ascii=False) + "\n" for s in samples)
    return write_files({path: lambda target: target.write_text(text, encoding="utf-8")})[0]


def export_benchmark(
    benchmark: str,
    fmt: str,
    *,
    db: DbRef = None,
    run_id: str | None = None,
    policy: str | None = None,
    seed: int | None = None,
    mode: str = "likra",
    w: float = 1.0,
    n_examples: int | None = None,
    out: Path | None = None,
    overwrite: bool = False,
) -> list[Path]:
    """Write a training set as TRL pairs (`dpo`) or rows (`kto`), or a run's samples (`lm-eval`); the paths written.

    The training set is the run's when `run_id` is given, else the one `likra train` would build for the
    policy and seed (None: `TrainConfig`'s defaults). An existing file is replaced only with `overwrite`; a failed
    write leaves none."""
    from likra.config import train_config
    from likra.data import build_training_set
    from likra.runs import get_run

    with connect_read_only(db) as con:
        run = get_run(con, run_id, db=db) if run_id else None
        if fmt == "lm-eval":
            if run is None:
                raise ExportError("--format lm-eval exports a run's evaluation: give --run RUN (see `likra runs`)")
            sizes = [
                n
                for (n,) in con.execute(
                    "SELECT DISTINCT n_examples FROM likra_eval_choices WHERE run_id = ? ORDER BY 1", [run.run_id]
                ).fetchall()
            ]
            size = n_examples if n_examples is not None else (sizes[-1] if sizes else 0)
            if size not in sizes:
                raise ExportError(
                    f"run {run.run_id} has no evaluated checkpoint of {size} examples; "
                    f"evaluated: {', '.join(map(str, sizes)) or 'none (run likra evaluate)'}"
                )
            samples = log_samples(con, run, size, mode, w)
            stem = out or Path("exports") / f"samples_{run.run_id}_{mode}_w{w:g}_n{size}"
            return [write_samples(samples, stem, overwrite=overwrite)]
        if run is not None:
            rows, name = set_rows(con, run.set_id), run.set_id
        else:
            config = train_config(**{k: v for k, v in {"policy": policy, "seed": seed}.items() if v is not None})
            training = build_training_set(con, benchmark, config)
            rows, name = training.rows, training.set_id
    frame = preference_pairs(rows) if fmt == "dpo" else unpaired_rows(rows)
    return write_dataset(frame, out or Path("exports") / f"{name}-{fmt}", overwrite=overwrite)
