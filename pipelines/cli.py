"""The `likra` command line: ingest benchmarks, list them, query the warehouse, run the demo pipeline."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
import polars as pl

from warehouse.errors import ReadOnlyViolation, WarehouseError

DB_HELP = "Warehouse file (default: $LIKRA_DB, else data/warehouse.duckdb)."


class _Group(click.Group):
    """Turns user errors into one line on stderr: exit 2 for refused SQL, 1 for anything else."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except ReadOnlyViolation as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(2)
        except WarehouseError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(1)
        except KeyboardInterrupt:
            click.echo("error: interrupted (Ctrl-C)", err=True)
            sys.exit(130)


@click.group(cls=_Group)
def main() -> None:
    """Mine near-miss negatives from multiple-choice benchmarks and train Likra models on them."""


def _cell(value: object, max_width: int) -> str:
    text = json.dumps(value, ensure_ascii=False) if isinstance(value, (list, dict)) else "" if value is None else str(value)
    text = text.replace("\n", "\\n")
    return text if max_width <= 0 or len(text) <= max_width else text[: max_width - 1] + "…"


def render(frame: pl.DataFrame, fmt: str = "table", max_width: int = 60) -> str:
    """Rows as an aligned table, CSV (nested values as JSON) or JSON records."""
    if fmt == "json":
        return json.dumps(frame.to_dicts(), ensure_ascii=False, default=str, indent=1)
    if fmt == "csv":
        nested = [name for name, dtype in frame.schema.items() if dtype.is_nested()]
        flat = frame.with_columns(pl.col(name).map_elements(lambda v: json.dumps(v.to_list() if hasattr(v, "to_list") else v),
                                                              return_dtype=pl.String) for name in nested)
        return flat.write_csv().rstrip("\n")
    from tabulate import tabulate

    rows = [[_cell(value, max_width) for value in row] for row in frame.iter_rows()]
    align = ["right" if dtype.is_numeric() else "left" for dtype in frame.dtypes]
    table = tabulate(rows, headers=frame.columns, tablefmt="simple", disable_numparse=True, colalign=align)
    return f"{table}\n({frame.height} row{'s' if frame.height != 1 else ''})"


@main.command()
@click.argument("benchmark", required=False)
@click.option("--spec", "spec_path", type=click.Path(dir_okay=False, path_type=Path),
              help="A YAML spec (lm-eval task-file keys) for a benchmark no adapter knows.")
@click.option("--path", type=click.Path(path_type=Path),
              help="Release file or folder as published; without it the Hugging Face hub is used.")
@click.option("--split", "splits", multiple=True, help="Only this split (repeatable). Default: every split found.")
@click.option("--limit", type=click.IntRange(min=1), help="At most N items per split.")
@click.option("--hub", "hub_id", help="Hub dataset id, or a local folder laid out like one, instead of the default.")
@click.option("--revision", help="Hub revision (branch, tag or commit).")
@click.option("--allow-outside-files", is_flag=True,
              help="Let a spec name data or labels files outside its own folder.")
@click.option("--db", type=click.Path(dir_okay=False), help=DB_HELP)
def ingest(benchmark: str | None, spec_path: Path | None, path: Path | None, splits: tuple[str, ...],
           limit: int | None, hub_id: str | None, revision: str | None, allow_outside_files: bool,
           db: str | None) -> None:
    """Ingest BENCHMARK (or the benchmark a --spec describes) into the warehouse."""
    from warehouse.ingest import ingest as run_ingest
    from warehouse.sources import load_spec

    if bool(benchmark) == bool(spec_path):
        raise click.UsageError("give a BENCHMARK name or --spec SPEC.yaml (one of them)")
    target = load_spec(spec_path) if spec_path else benchmark
    result = run_ingest(target, db=db, path=path, splits=list(splits) or None, limit=limit, hub_id=hub_id,
                        revision=revision, allow_outside_files=allow_outside_files)
    frame = pl.DataFrame({"split": list(result.items), "items": list(result.items.values()),
                          "rejected": [result.rejects[s] for s in result.items]})
    click.echo(f"{result.benchmark}: {result.n_items} items, {result.n_rejects} rejected, from {result.origin} "
               f"in {result.seconds:.2f}s")
    click.echo(render(frame))
    if result.n_rejects:
        from warehouse.sql import run_query

        rejects = run_query(f"SELECT source, row_ref, reason FROM ingest_rejects WHERE run_id = '{result.run_id}' "
                            "LIMIT 5", db)
        click.echo("first rejects (all of them: likra sql \"SELECT * FROM ingest_rejects\"):")
        click.echo(render(rejects, max_width=100))


@main.command()
@click.option("--db", type=click.Path(dir_okay=False), help=DB_HELP)
def benchmarks(db: str | None) -> None:
    """List the built-in benchmarks (and specs registered in the warehouse) and what each needs."""
    from warehouse.db import connect_read_only
    from warehouse.paths import resolve_db_path
    from warehouse.sources import builtin_benchmarks, registered_specs

    for name, benchmark in builtin_benchmarks().items():
        click.echo(f"{name:16} {benchmark.describe()}")
    if resolve_db_path(db).exists():
        with connect_read_only(db) as con:
            for name, benchmark in registered_specs(con).items():
                click.echo(f"{name:16} {benchmark.describe()} [registered spec]")


@main.command()
@click.argument("query")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table", show_default=True)
@click.option("--max-width", type=int, default=60, show_default=True, help="Truncate table cells (0: never).")
@click.option("--timeout", type=click.FloatRange(min=0), default=60, show_default=True,
              help="Stop the query after SECONDS (0: no limit); Ctrl-C stops it too.")
@click.option("--db", type=click.Path(dir_okay=False), help=DB_HELP)
def sql(query: str, fmt: str, max_width: int, timeout: float, db: str | None) -> None:
    """Run one read-only SQL QUERY over the warehouse (writes, ATTACH, COPY, files: refused, exit 2)."""
    from warehouse.sql import run_query

    click.echo(render(run_query(query, db, timeout=timeout), fmt, max_width))


@main.command()
@click.argument("benchmark")
@click.option("--model", default="smollm2", show_default=True,
              help="Hub model id, local folder, or `smollm2` (SmolLM2-135M-Instruct, offline).")
@click.option("--fewshot", type=click.IntRange(min=0), default=0, show_default=True,
              help="Exemplars before each prompt: the first K items of the few-shot split.")
@click.option("--fewshot-split", help="Split the exemplars come from (default: train, dev, validation, else the scored one).")
@click.option("--split", "splits", multiple=True, help="Only this split (repeatable).")
@click.option("--limit", type=click.IntRange(min=1), help="At most N items per split.")
@click.option("--dtype", type=click.Choice(["auto", "bf16", "fp16", "fp32"]), default="auto", show_default=True,
              help="auto: fp32 on CPU, bf16 on CUDA.")
@click.option("--db", type=click.Path(dir_okay=False), help=DB_HELP)
def score(benchmark: str, model: str, fewshot: int, fewshot_split: str | None, splits: tuple[str, ...],
          limit: int | None, dtype: str, db: str | None) -> None:
    """Score every choice of BENCHMARK's items with a causal LM; store the scores; print acc and acc_norm."""
    from tqdm import tqdm

    from likra.scoring.run import score_benchmark

    with tqdm(unit="choice", desc=f"scoring {benchmark}", disable=None) as bar:
        report = score_benchmark(benchmark, db=db, model=model, dtype=dtype, fewshot=fewshot,
                                 fewshot_split=fewshot_split, splits=list(splits) or None, limit=limit,
                                 progress=bar.update)
    if report.compute_seconds:
        rate = (f"model load {report.load_seconds:.1f}s, scoring {report.compute_seconds:.1f}s at "
                f"{report.choices_per_second:.1f} choices/s, {report.forward_tokens} tokens run")
    else:
        rate = "all cached"
    click.echo(f"{benchmark}: {report.n_items} items, {report.n_requests} choices ({report.n_cached} cached, "
               f"{report.n_truncated} truncated) with {report.model}, {fewshot}-shot; {report.seconds:.1f}s in all "
               f"({rate})")
    frame = pl.DataFrame([{"split": split, "items": int(v["n"]), "acc": round(v["acc"], 4),
                           "acc_norm": round(v["acc_norm"], 4)} for split, v in report.accuracy.items()])
    click.echo(render(frame))


@main.command()
@click.argument("benchmark")
@click.option("--scope", type=click.Choice(["benchmark", "all"]), default="benchmark", show_default=True,
              help="Mine answers of the same benchmark or of every ingested benchmark.")
@click.option("--query", type=click.Choice(["gold", "question"]), default="gold", show_default=True,
              help="Search neighbours of the gold answer's or of the question's embedding.")
@click.option("-k", "--k", "k", type=click.IntRange(min=0), default=10, show_default=True,
              help="Cross-question candidates per item.")
@click.option("--lexical-k", type=click.IntRange(min=0), default=0, show_default=True,
              help="BM25 candidates per item (DuckDB full-text search; 0: off).")
@click.option("--max-sim", type=float, default=0.9, show_default=True,
              help="Mined candidates at least this similar to the gold answer are paraphrases: dropped.")
@click.option("--embedder", default="all-MiniLM-L6-v2", show_default=True, help="sentence-transformers model id or folder.")
@click.option("--model", default="smollm2", show_default=True, help="Causal LM grading plausibility.")
@click.option("--index", "index_kind", type=click.Choice(["auto", "flat", "ivf", "hnsw"]), default="auto",
              show_default=True, help="FAISS index (auto: exact up to 200k answers, IVF above).")
@click.option("--near-miss-margin", type=float, default=-0.5, show_default=True,
              help="near_miss: per-token log-likelihood margin to the gold answer at least this.")
@click.option("--near-miss-min-sim", type=float, default=0.2, show_default=True,
              help="near_miss: similarity to the gold answer at least this.")
@click.option("--plausible-margin", type=float, default=-1.5, show_default=True,
              help="plausible: per-token margin at least this.")
@click.option("--search-again", is_flag=True,
              help="Search even if the stored candidates were mined from unchanged items, answers and settings.")
@click.option("--db", type=click.Path(dir_okay=False), help=DB_HELP)
def mine(benchmark: str, scope: str, query: str, k: int, lexical_k: int, max_sim: float, embedder: str, model: str,
         index_kind: str, near_miss_margin: float, near_miss_min_sim: float, plausible_margin: float,
         search_again: bool, db: str | None) -> None:
    """Mine, score and grade near-miss negatives for BENCHMARK; print the run's summary.

    Re-mining is incremental: cached embeddings and log-likelihoods are reused, and candidates mined
    from unchanged inputs are graded again without a new search.
    """
    from mining.config import mining_config
    from mining.run import mine_benchmark

    config = mining_config(scope=scope, query=query, k=k, lexical_k=lexical_k, max_sim_to_gold=max_sim,
                           embedder=embedder, scorer_model=model, index={"kind": index_kind},
                           tiers={"near_miss_margin": near_miss_margin, "near_miss_min_sim": near_miss_min_sim,
                                  "plausible_margin": plausible_margin})
    summary = mine_benchmark(benchmark, db=db, config=config, progress=lambda message: click.echo(f"  {message}"),
                             reuse=not search_again)
    click.echo(f"{benchmark}: {summary.negatives} negatives for {summary.items} items "
               f"({summary.items_without_negatives} without any) in {summary.seconds:.1f}s; run {summary.run_id}, "
               f"config {summary.config_hash}")
    embeddings = "none needed (candidates reused)" if summary.candidates_from else summary.embeddings
    click.echo(f"embeddings {embeddings}; log-likelihoods {summary.logliks}; removed {summary.removed or 'none'}")
    tiers = ["near_miss", "plausible", "far"]
    click.echo(render(pl.DataFrame([{"origin": origin, **{t: counts.get(t, 0) for t in tiers},
                                     "total": sum(counts.values())}
                                    for origin, counts in sorted(summary.by_origin_and_tier.items())])))
    click.echo(render(pl.DataFrame([{"statistic": name, **values} for name, values in summary.statistics.items()])))


@main.command()
@click.argument("benchmark")
@click.option("--tier", type=click.Choice(["near_miss", "plausible", "far"]), help="Only this tier.")
@click.option("--origin", type=click.Choice(["own_distractor", "cross_question", "lexical"]), help="Only this origin.")
@click.option("--limit", type=click.IntRange(min=1), default=20, show_default=True)
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table", show_default=True)
@click.option("--db", type=click.Path(dir_okay=False), help=DB_HELP)
def negatives(benchmark: str, tier: str | None, origin: str | None, limit: int, fmt: str, db: str | None) -> None:
    """Browse BENCHMARK's graded negatives, the most plausible first."""
    from warehouse.db import connect_read_only

    where, params = ["g.benchmark = ?"], [benchmark]
    for column, value in (("tier", tier), ("origin", origin)):
        if value:
            where.append(f"g.{column} = ?")
            params.append(value)
    with connect_read_only(db) as con:
        frame = con.execute(
            "SELECT g.item_id, i.question, i.choices[i.gold + 1] AS gold, g.negative, g.origin, g.tier, "
            "round(g.sim_gold, 3) AS sim_gold, round(g.margin_per_token, 3) AS margin_per_token, g.rank "
            f"FROM graded_negatives g JOIN items i USING (item_id) WHERE {' AND '.join(where)} "
            "ORDER BY g.margin_per_token DESC LIMIT ?", [*params, limit]).pl()
    if frame.is_empty():
        click.echo(f"no graded negatives for {benchmark}{f' in tier {tier}' if tier else ''}: run `likra mine {benchmark}`")
        return
    click.echo(render(frame, fmt, max_width=50))


@main.command()
@click.option("--db", type=click.Path(dir_okay=False), help=DB_HELP)
def demo(db: str | None) -> None:
    """The main job: run the pipeline on the bundled demo benchmark through Dagster, then summarise."""
    from pipelines.demo import run_demo

    run_demo(db, echo=click.echo, render=render)


if __name__ == "__main__":
    main()
