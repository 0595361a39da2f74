"""Mining commands: mine and grade near-miss negatives, browse them."""

from __future__ import annotations

import click

from mining.config import MiningConfig
from pipelines.cli.options import config_options, config_values, db_option, format_option
from pipelines.cli.render import render
from warehouse.negatives import ORIGINS, TIERS

# Flags of `likra mine`, by the MiningConfig field they set; type, default and help come from the field.
MINE_FLAGS = {
    "scope": "--scope",
    "query": "--query",
    "k": ("-k", "--k"),
    "lexical_k": "--lexical-k",
    "max_sim_to_gold": "--max-sim",
    "embedder": "--embedder",
    "scorer_model": "--model",
    "index.kind": "--index",
    "premise": "--premise",
    "guard.paraphrase": "--paraphrase",
    "guard.paraphrase_min_sim": "--paraphrase-min-sim",
    "guard.cross_encoder": "--cross-encoder",
    "tiers.measure": "--measure",
    "tiers.near_miss_margin": "--near-miss-margin",
    "tiers.near_miss_min_sim": "--near-miss-min-sim",
    "tiers.plausible_margin": "--plausible-margin",
    "verifier.enabled": "--verify/--no-verify",
    "verifier.similar_question": "--verify-similar-question",
    "verifier.max_sim_gold": "--verify-max-sim-gold",
    "verifier.gold_gap": "--verify-gold-gap",
    "verifier.cross_encoder": "--verify-cross-encoder",
}


@click.command()
@click.argument("benchmark")
@config_options(MiningConfig, MINE_FLAGS)
@click.option(
    "--search-again",
    is_flag=True,
    help="Search even if the stored candidates were mined from unchanged items, answers and settings.",
)
@db_option()
def mine(benchmark: str, search_again: bool, db: str | None, **settings) -> None:
    """Mine, score and grade near-miss negatives for BENCHMARK; print the run's summary.

    Re-mining is incremental: cached embeddings and log-likelihoods are reused, and candidates mined
    from unchanged inputs are graded again without a new search.
    """
    from mining.config import mining_config
    from mining.report import (
        guard_table,
        near_miss_table,
        precision_table,
        quality_line,
        statistics_table,
        tier_table,
        verifier_line,
    )
    from mining.run import mine_benchmark

    config = mining_config(**config_values(settings))
    summary = mine_benchmark(
        benchmark, db=db, config=config, progress=lambda message: click.echo(f"  {message}"), reuse=not search_again
    )
    click.echo(
        f"{benchmark}: {summary.negatives} negatives for {summary.items} items "
        f"({summary.items_without_negatives} without any) in {summary.seconds:.1f}s; run {summary.run_id}, "
        f"config {summary.config_hash}"
    )
    embeddings = "none needed (candidates reused)" if summary.candidates_from else summary.embeddings
    click.echo(f"embeddings {embeddings}; log-likelihoods {summary.logliks}; removed {summary.removed or 'none'}")
    click.echo(render(tier_table(summary)))
    click.echo(render(statistics_table(summary)))
    click.echo(quality_line(summary))
    click.echo(verifier_line(summary))
    precision = precision_table(summary)
    if not precision.is_empty():
        click.echo(
            "labelled negatives of this run (bench/data), share wrong and share wrong and plausible [95% interval]:"
        )
        click.echo(render(precision))
    click.echo("removed by the false-negative filters and the answer-equivalence guard:")
    click.echo(render(guard_table(summary)))
    click.echo("top near misses per origin:")
    click.echo(render(near_miss_table(summary), max_width=50))


@click.command()
@click.argument("benchmark")
@click.option("--tier", type=click.Choice(TIERS), help="Only this tier.")
@click.option("--origin", type=click.Choice(ORIGINS), help="Only this origin.")
@click.option("--limit", type=click.IntRange(min=1), default=20, show_default=True)
@format_option
@db_option()
def negatives(benchmark: str, tier: str | None, origin: str | None, limit: int, fmt: str, db: str | None) -> None:
    """Browse BENCHMARK's graded negatives, the most plausible first."""
    from warehouse.db import connect_read_only
    from warehouse.items import require_ingested
    from warehouse.negatives import browse_negatives

    with connect_read_only(db) as con:
        require_ingested(con, benchmark)
        frame = browse_negatives(
            con, benchmark, tiers=[tier] if tier else None, origins=[origin] if origin else None, limit=limit
        )
    if frame.is_empty():
        click.echo(
            f"no graded negatives for {benchmark}{f' in tier {tier}' if tier else ''}: run `likra mine {benchmark}`"
        )
        return
    click.echo(render(frame, fmt, max_width=50))
