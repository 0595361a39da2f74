"""`likra score`: base-model log-likelihoods of every choice, with acc and acc_norm."""

from __future__ import annotations

import click
import polars as pl

from likra.scoring.config import ScoringConfig
from pipelines.cli.options import config_options, config_values, db_option
from pipelines.cli.render import render

SCORE_FLAGS = {
    "model": "--model",
    "fewshot": "--fewshot",
    "fewshot_split": "--fewshot-split",
    "splits": "--split",
    "limit": "--limit",
    "dtype": "--dtype",
}


@click.command()
@click.argument("benchmark")
@config_options(ScoringConfig, SCORE_FLAGS)
@db_option()
def score(benchmark: str, db: str | None, **settings) -> None:
    """Score every choice of BENCHMARK's items with a causal LM; store the scores; print acc and acc_norm."""
    from tqdm import tqdm

    from likra.scoring.config import scoring_settings
    from likra.scoring.run import score_benchmark

    config = scoring_settings(**config_values(settings))
    with tqdm(unit="choice", desc=f"scoring {benchmark}", disable=None) as bar:
        report = score_benchmark(benchmark, config, db=db, progress=bar.update)
    if report.compute_seconds:
        rate = (
            f"model load {report.load_seconds:.1f}s, scoring {report.compute_seconds:.1f}s at "
            f"{report.choices_per_second:.1f} choices/s, {report.forward_tokens} tokens run"
        )
    else:
        rate = "all cached"
    click.echo(
        f"{benchmark}: {report.n_items} items, {report.n_requests} choices ({report.n_cached} cached, "
        f"{report.n_truncated} truncated) with {report.model}, {config.fewshot}-shot; {report.seconds:.1f}s in all "
        f"({rate})"
    )
    frame = pl.DataFrame(
        [
            {"split": split, "items": int(v["n"]), "acc": round(v["acc"], 4), "acc_norm": round(v["acc_norm"], 4)}
            for split, v in report.accuracy.items()
        ]
    )
    click.echo(render(frame))
