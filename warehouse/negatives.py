"""The graded-negatives contract: tiers, origins and columns of `graded_negatives`, and how it is read.

Mining writes the table; training and the CLI read it through `load_negatives`. The names live here,
on the lowest floor, so any package can use them without importing torch or FAISS.
"""

from __future__ import annotations

from collections.abc import Sequence

import duckdb
import polars as pl

TIERS = ("near_miss", "plausible", "far", "unverified")
ORIGINS = ("own_distractor", "cross_question", "lexical")

GRADED_SCHEMA: dict[str, pl.DataType] = {
    "item_id": pl.String(),
    "benchmark": pl.String(),
    "negative": pl.String(),
    "norm_hash": pl.String(),
    "origin": pl.String(),
    "origin_item_id": pl.String(),
    "sim_gold": pl.Float64(),
    "sim_question": pl.Float64(),
    "loglik": pl.Float64(),
    "n_tokens": pl.Int32(),
    "loglik_per_token": pl.Float64(),
    "loglik_per_char": pl.Float64(),
    "gold_loglik": pl.Float64(),
    "rank": pl.Int32(),
    "margin": pl.Float64(),
    "margin_per_token": pl.Float64(),
    "margin_per_char": pl.Float64(),
    "tier": pl.String(),
    "mining_run_id": pl.String(),
    # Plausibility for the question: log p(negative | neutral premise), and the pointwise mutual information.
    "uncond_loglik": pl.Float64(),
    "pmi": pl.Float64(),
    "gold_pmi": pl.Float64(),
    "margin_pmi": pl.Float64(),
    # The verifier rule that suspects a mined candidate of being a true answer (tier `unverified`).
    "unverified_by": pl.String(),
}
GRADED_COLUMNS = tuple(GRADED_SCHEMA)

# The margin the tiers were graded by (the mining run's `tiers.measure`): the measure policies rank by.
TIER_MARGIN_SQL = (
    "CASE coalesce(r.config->'tiers'->>'measure', 'pmi') WHEN 'pmi' THEN g.margin_pmi "
    "WHEN 'per_token' THEN g.margin_per_token WHEN 'per_char' THEN g.margin_per_char ELSE g.margin END"
)


def _filters(benchmark: str, tiers: Sequence[str] | None, origins: Sequence[str] | None) -> tuple[str, list]:
    for name, values, known in (("tier", tiers, TIERS), ("origin", origins, ORIGINS)):
        unknown = sorted(set(values or ()) - set(known))
        if unknown:
            raise ValueError(f"unknown {name} {', '.join(unknown)}; known: {', '.join(known)}")
    where, params = ["g.benchmark = ?"], [benchmark]
    if tiers:
        where.append("list_contains(?, g.tier)")
        params.append(list(tiers))
    if origins:
        where.append("list_contains(?, g.origin)")
        params.append(list(origins))
    return " AND ".join(where), params


def load_negatives(
    con: duckdb.DuckDBPyConnection,
    benchmark: str,
    *,
    tiers: Sequence[str] | None = None,
    origins: Sequence[str] | None = None,
) -> pl.DataFrame:
    """A benchmark's graded negatives, optionally of some tiers and origins, per item most plausible first by the
    margin its tiers were graded by (column `tier_margin`)."""
    where, params = _filters(benchmark, tiers, origins)
    return con.execute(
        f"SELECT {', '.join('g.' + c for c in GRADED_COLUMNS)}, {TIER_MARGIN_SQL} AS tier_margin "
        "FROM graded_negatives g LEFT JOIN mining_runs r ON r.run_id = g.mining_run_id "
        f"WHERE {where} ORDER BY g.item_id, tier_margin DESC NULLS LAST, g.rank, g.norm_hash",
        params,
    ).pl()


def browse_negatives(
    con: duckdb.DuckDBPyConnection,
    benchmark: str,
    *,
    tiers: Sequence[str] | None = None,
    origins: Sequence[str] | None = None,
    limit: int = 20,
) -> pl.DataFrame:
    """The negatives most plausible for their question (PMI margin to the gold answer) with their question and
    gold answer, for reading."""
    where, params = _filters(benchmark, tiers, origins)
    return con.execute(
        "SELECT g.item_id, i.question, i.choices[i.gold + 1] AS gold, g.negative, g.origin, g.tier, "
        "round(g.sim_gold, 3) AS sim_gold, round(g.margin_pmi, 3) AS margin_pmi, "
        "round(g.margin_per_token, 3) AS margin_per_token, g.rank "
        f"FROM graded_negatives g JOIN items i USING (item_id) WHERE {where} "
        "ORDER BY coalesce(g.margin_pmi, g.margin_per_token) DESC LIMIT ?",
        [*params, limit],
    ).pl()
