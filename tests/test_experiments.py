"""Likra experiments E1-E6 on the demo set with a tiny model: tables, plots, reports, and their arithmetic."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import polars as pl
import pytest
from tiny_models import save_tiny_model

from likra.config import TrainConfig
from likra.experiments import EXPERIMENTS, ExperimentConfig, run_experiment
from likra.experiments.curves import gain_table
from likra.experiments.paired import (
    INCONCLUSIVE,
    NOT_SUPPORTED,
    SUPPORTED,
    Estimate,
    close,
    contrast,
    difference,
    greater,
    peak_near_one,
    several_times,
    slope,
)
from likra.exports import preference_pairs, set_rows
from likra.heads import saved_checkpoints
from likra.runs import get_run
from warehouse.ingest import ingest


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, ExperimentConfig]:
    folder = tmp_path_factory.mktemp("experiments")
    model = str(save_tiny_model(folder / "tiny-llama"))
    db = folder / "warehouse.duckdb"
    ingest("demo", db=db)
    config = ExperimentConfig(
        train=TrainConfig(model=model, sizes=[4, 8], batch_size=4),
        seeds=[1, 2],
        policies=["random", "first", "most_plausible", "mined_near_miss"],
        weights=[0.0, 0.5, 1.0, 1.5],
    )
    return db, config


@pytest.fixture(scope="module")
def results(setup) -> dict:
    db, config = setup
    return {name: run_experiment(name, "demo", config, db=db) for name in EXPERIMENTS}


ALL_EXPERIMENTS = {"learning-curve", "gain", "negative-types", "weight-sweep", "likelihood-shift", "dpo-baseline"}


def sql(db: Path, query: str, *params) -> list[tuple]:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(query, list(params)).fetchall()


def test_every_experiment_writes_its_table_plots_and_report(setup, results) -> None:
    db, config = setup
    assert set(results) == ALL_EXPERIMENTS  # the loop below checks every experiment, not none
    for name, result in results.items():
        assert result.results.height > 0, name
        assert result.plots and all(png.startswith(b"\x89PNG") for png in result.plots.values()), name
        report = (result.output_dir / "report.md").read_text()
        assert report.startswith("# ") and all(f"]({file})" in report for file in result.plots), name
        assert all((result.output_dir / file).is_file() for file in result.plots)
        [(stored, rows)] = sql(
            db,
            "SELECT e.config, (SELECT count(*) FROM likra_experiment_results r "
            "WHERE r.experiment_id = e.experiment_id) FROM likra_experiments e "
            "WHERE e.experiment_id = ?",
            result.experiment_id,
        )
        assert ExperimentConfig(**json.loads(stored)) == config and rows == result.results.height
    curve = results["learning-curve"].results
    assert set(curve["series"]) == {"base", "sft", "likra", "negbase"} and set(curve["seed"]) == {1, 2}
    assert set(curve["n_examples"]) == {0, 4, 8} and curve["stderr"].drop_nulls().len() == curve.height


def test_weight_zero_is_sft(results) -> None:
    sweep = results["weight-sweep"]
    assert sweep.summary["w0_equals_sft"] is True
    likra = sweep.results.filter((pl.col("series") == "likra") & (pl.col("w") == 0.0)).sort("seed", "n_examples")
    sft = (
        results["learning-curve"]
        .results.filter((pl.col("series") == "sft") & (pl.col("metric") == "acc"))
        .sort("seed", "n_examples")
    )
    assert likra.height == sft.height > 0  # two empty columns would compare equal
    assert likra["value"].to_list() == sft["value"].to_list()
    assert set(sweep.results["w"]) == {0.0, 0.5, 1.0, 1.5}


def outcomes_frame(cells: dict[tuple[str, int, int], list[int]]) -> pl.DataFrame:
    """Item outcomes from {(series, n_examples, seed): correct per item}."""
    rows = [
        {
            "series": series,
            "n_examples": n,
            "seed": seed,
            "item_id": f"q{i}",
            "correct": float(c),
            "correct_norm": float(c),
        }
        for (series, n, seed), flags in cells.items()
        for i, c in enumerate(flags)
    ]
    return pl.DataFrame(rows)


def test_paired_gain_arithmetic_on_a_hand_made_table() -> None:
    frame = outcomes_frame(
        {
            ("likra", 64, 1): [0, 0, 0, 0],
            ("likra", 64, 2): [0, 0, 0, 0],
            ("likra", 128, 1): [1, 1, 0, 0],
            ("likra", 128, 2): [1, 0, 0, 0],
            ("sft", 64, 1): [1, 0, 0, 0],
            ("sft", 64, 2): [1, 0, 0, 0],
            ("sft", 128, 1): [1, 0, 0, 0],
            ("sft", 128, 2): [1, 0, 0, 1],
            ("negbase", 64, 1): [0, 0, 0, 0],
            ("negbase", 64, 2): [0, 0, 0, 0],
            ("negbase", 128, 1): [0, 0, 0, 0],
            ("negbase", 128, 2): [0, 0, 0, 0],
        }
    )
    gained = slope(frame, "likra", 64, 128)
    # Per item, the gain averaged over seeds is [1, 0.5, 0, 0]: mean 0.375, SE = sd / sqrt(4).
    per_item = [1.0, 0.5, 0.0, 0.0]
    spread = (sum((v - 0.375) ** 2 for v in per_item) / 3) ** 0.5
    assert gained.value == pytest.approx(0.375 / 64) and gained.stderr == pytest.approx(spread / 2 / 64)
    assert (gained.n_items, gained.n_seeds) == (4, 2)
    excess = contrast(frame, {("likra", 128): 1, ("likra", 64): -1, ("sft", 128): -3, ("sft", 64): 3})
    same = difference(frame, ("likra", 128), ("likra", 128))
    assert (same.value, same.stderr) == (0.0, 0.0)
    assert excess.value == pytest.approx(0.375 - 3 * 0.125)
    pairs, summary = gain_table(frame, (64, 128))
    assert pairs.filter(pl.col("series") == "likra")["gain_per_example"].to_list() == pytest.approx([0.375 / 64])
    assert summary["paper_window"] == [64, 128] and summary["curve_window"] == [64, 128]
    assert summary["paper/likra_over_sft"] == pytest.approx(3.0)
    assert summary["paper/negbase_over_sft"] == 0.0
    flat = frame.with_columns(
        pl.when(pl.col("series") == "sft").then(0.0).otherwise(pl.col("correct")).alias("correct")
    )
    _, undefined = gain_table(flat, (64, 128))
    assert undefined["paper/likra_over_sft"] is None and "undefined" in undefined["paper/note"]
    assert gain_table(frame, (32, 64))[1]["paper_window"] is None  # sizes the runs do not have


def test_verdict_rules_follow_the_plan() -> None:
    def at(value: float, stderr: float) -> Estimate:
        return Estimate(value, stderr, 500, 3)

    assert greater(at(0.05, 0.02)) == SUPPORTED  # 0.01 .. 0.09
    assert greater(at(-0.05, 0.02)) == NOT_SUPPORTED and greater(at(0.0, 0.005)) == NOT_SUPPORTED  # top below 0.02
    assert greater(at(0.02, 0.015)) == INCONCLUSIVE
    assert close(at(0.005, 0.01)) == SUPPORTED and close(at(0.1, 0.02)) == NOT_SUPPORTED
    assert close(at(0.02, 0.02)) == INCONCLUSIVE
    assert several_times(at(0.05, 0.02), at(0.15, 0.03)) == SUPPORTED
    assert several_times(at(-0.08, 0.02), at(0.15, 0.03)) == NOT_SUPPORTED
    assert several_times(at(0.01, 0.02), at(0.1, 0.03)) == INCONCLUSIVE
    assert peak_near_one(1.0, at(0.05, 0.01), at(0.0, 0.0)) == SUPPORTED
    assert peak_near_one(0.5, at(0.05, 0.01), at(0.04, 0.01)) == NOT_SUPPORTED
    assert peak_near_one(0.5, at(0.05, 0.01), at(0.01, 0.01)) == INCONCLUSIVE


def test_study_verdicts_read_recorded_runs_and_say_what_has_not_run(setup, results) -> None:
    from likra.experiments.study import NOT_RUN, study_verdicts, verdict_markdown

    db, config = setup
    window = config.model_copy(update={"paper_window": [4, 8]})
    rows = {
        row["hypothesis"]: row
        for row in study_verdicts(
            db, window, {"other_question": "other_question"}, [8], benchmark="demo", arm_sizes={"mined_near_miss": [4]}
        )
    }
    assert set(rows) == {"H1a", "H1b", "H2", "H3a", "H3b", "H4a", "H4b", "H5", "H6a", "H6b"}
    for key in ("H1a", "H1b", "H2", "H3a", "H3b", "H5"):  # the learning-curve runs are recorded
        for metric in ("acc_norm", "acc"):
            assert rows[key][metric]["verdict"] in (SUPPORTED, NOT_SUPPORTED, INCONCLUSIVE), (key, metric)
    assert rows["H1a"]["acc"]["difference"]["n_seeds"] == 2
    assert rows["H4a"]["acc"]["verdict"] == NOT_RUN  # no other_question runs at size 8 yet
    # an arm with fewer training questions is read at its own largest size, the others at the arms' size
    assert rows["H6b"]["claim"].endswith("at 4") and rows["H6a"]["claim"].endswith("at 8")
    table = verdict_markdown(list(rows.values()))
    assert table.count("\n") == 12 and "not run" in table


def test_negative_types_report_skipped_policies_with_the_reason(results) -> None:
    types = results["negative-types"]
    assert set(types.results["series"]) == {"random", "first", "sft (random run)"}
    for graded in ("most_plausible", "mined_near_miss"):  # both read mining's graded negatives
        assert "mine negatives first" in types.summary["skipped"][graded]


def test_dpo_trains_on_exactly_the_pairs_the_heads_saw(setup, results) -> None:
    db, _ = setup
    dpo = results["dpo-baseline"]
    assert dpo.runs  # one run per seed; none would skip every check below
    assert set(dpo.results.filter(pl.col("series") == "dpo")["n_examples"]) == {4, 8}
    for run_id in dpo.runs:
        [(set_id, out_dir)] = sql(db, "SELECT set_id, out_dir FROM likra_runs WHERE run_id = ?", run_id)
        with duckdb.connect(str(db), read_only=True) as con:
            pairs = preference_pairs(set_rows(con, set_id))
        assert pairs.height >= 8, run_id  # one pair per training question, at least the 8 the run trained on
        heads = sql(
            db,
            "SELECT position, head, continuation FROM likra_training_rows WHERE set_id = ? "
            "ORDER BY position, head DESC",
            set_id,
        )
        assert pairs["chosen"].to_list() == [c for _, head, c in heads if head == "positive"]
        assert pairs["rejected"].to_list() == [c for _, head, c in heads if head == "negative"]
        saved = sorted(Path(out_dir).parent.glob(f"{run_id}.dpo-*/dpo/n-*/likra_checkpoint.json"))
        provenance = [json.loads(p.read_text()) for p in saved]
        assert [p["n_examples"] for p in provenance] == [4, 8] and {p["set_id"] for p in provenance} == {set_id}


def reported_differences(report: str, metric: str) -> dict[tuple[int, str], float]:
    """A report's paired-difference table for a metric: (size, comparison) -> estimate."""
    block = report.split("Paired differences")[1].split(f"\n{metric}:\n\n")[1].split("\n\n")[0]
    header, _, *rows = [[cell.strip() for cell in line.strip("|").split("|")] for line in block.splitlines()]
    return {(int(row[0]), name): float(cell.split(" ± ")[0]) for row in rows for name, cell in zip(header[1:], row[1:])}


def test_reports_give_paired_differences_that_agree_with_their_accuracies(results) -> None:
    # With every item evaluated in every cell, the paired mean difference is the difference of mean accuracies.
    for name, (a, b) in (("learning-curve", ("likra", "sft")), ("dpo-baseline", ("dpo", "sft"))):
        result = results[name]
        for metric in ("acc", "acc_norm"):
            reported = reported_differences(result.report, metric)
            cells = result.results.filter(pl.col("metric") == metric).group_by("series", "n_examples")
            rows = cells.agg(pl.col("value").mean()).iter_rows(named=True)
            mean = {(row["series"], row["n_examples"]): row["value"] for row in rows}
            assert {n for n, _ in reported} == {4, 8}, (name, metric)
            for n in (4, 8):
                expected = mean[(a, n)] - mean[(b, n)]
                assert reported[(n, f"{a} - {b}")] == pytest.approx(expected, abs=1e-4), (name, metric, n)


class Killed(Exception):
    """Stands for the process dying right after the Trainer saved its state."""


def test_a_killed_dpo_training_resumes_at_its_last_size_to_the_same_adapters(
    setup, results, tmp_path: Path, monkeypatch
) -> None:
    import torch
    from safetensors.torch import load_file
    from transformers import Trainer

    import likra.experiments.dpo as dpo

    db, config = setup
    with duckdb.connect(str(db), read_only=True) as con:
        run = get_run(con, results["dpo-baseline"].runs[0], db=db)
        pairs = preference_pairs(set_rows(con, run.set_id))
    whole = {c.n_examples: c for c in dpo.train_dpo(run, pairs, config, tmp_path / "whole")}

    saving = Trainer._save_checkpoint

    def save_then_die(trainer, model, trial):
        saving(trainer, model, trial)
        raise Killed

    monkeypatch.setattr(Trainer, "_save_checkpoint", save_then_die)
    with pytest.raises(Killed):
        dpo.train_dpo(run, pairs, config, tmp_path / "killed")
    assert [c.n_examples for c in saved_checkpoints(tmp_path / "killed")] == [4]
    assert dpo.latest_state(tmp_path / "killed" / dpo.STATE)[0] == 1  # one step of 4 pairs

    monkeypatch.setattr(Trainer, "_save_checkpoint", saving)
    said: list[str] = []
    resumed = {c.n_examples: c for c in dpo.train_dpo(run, pairs, config, tmp_path / "killed", said.append)}
    assert said == ["dpo: resuming at 4 pairs", "dpo: saved at 8 pairs"]  # size 4 was not trained again
    assert set(resumed) == set(whole) == {4, 8} and not (tmp_path / "killed" / dpo.STATE).exists()
    for size in whole:
        [expected] = whole[size].path.rglob("*.safetensors")
        [found] = resumed[size].path.rglob("*.safetensors")
        a, b = load_file(expected), load_file(found)
        assert a.keys() == b.keys() and a
        assert all(torch.allclose(a[k], b[k], atol=1e-6) for k in a), size


def table_headers(report: str) -> list[list[str]]:
    """The column names of every markdown table of a report, in order."""
    lines = report.splitlines()
    return [
        [cell.strip() for cell in line.strip("|").split("|")]
        for line, below in zip(lines, lines[1:])
        if line.startswith("|") and below.startswith("|-")
    ]


def test_report_columns_come_in_a_fixed_order(results) -> None:
    curve = table_headers(results["learning-curve"].report)
    assert curve[:2] == [["n_examples", "base", "sft", "likra", "negbase"]] * 2  # acc, then acc_norm
    assert table_headers(results["dpo-baseline"].report)[0] == ["n_examples", "base", "sft", "likra", "negbase", "dpo"]
    masses = table_headers(results["likelihood-shift"].report)[0]
    assert masses == ["metric", "gold", "top_distractor", "rest"]


def test_shift_masses_are_probabilities(results) -> None:
    masses = results["likelihood-shift"].results.filter(pl.col("metric").str.starts_with("mass_"))
    totals = masses.group_by("seed", "n_examples", "metric").agg(pl.col("value").sum())
    # Every head at every seed has masses to sum; an empty table would pass the check below.
    assert set(totals["metric"]) == {"mass_base", "mass_positive", "mass_negative"} and set(totals["seed"]) == {1, 2}
    assert totals["value"].to_list() == pytest.approx([1.0] * totals.height)


def test_reruns_compute_nothing_new(setup, results, monkeypatch) -> None:
    import likra.experiments.dpo as dpo
    import likra.scoring.cached as cached
    import likra.workflow as workflow

    db, config = setup

    def forbidden(*args, **kwargs):
        raise AssertionError("a model was loaded although every head and score existed")

    for module in (workflow, cached, dpo):
        monkeypatch.setattr(module, "load_model", forbidden)
    for name in EXPERIMENTS:
        again = run_experiment(name, "demo", config, db=db)
        assert again.experiment_id == results[name].experiment_id
    assert set(EXPERIMENTS) == ALL_EXPERIMENTS  # every experiment was rerun, not none
    assert sql(db, "SELECT count(*) FROM likra_experiments") == [(len(ALL_EXPERIMENTS),)]


def test_experiment_assets_materialise(setup, tmp_path: Path) -> None:
    from pipeline_runs import materialize_partition

    from pipelines.defs.experiments.assets import EXPERIMENT_ASSETS

    db, config = setup
    [curve] = [a for a in EXPERIMENT_ASSETS if a.key.to_user_string() == "experiment_learning_curve"]
    run_config = {"ops": {"experiment_learning_curve": {"config": json.loads(config.model_dump_json())}}}
    result = materialize_partition([curve], "demo", db, run_config=run_config)
    assert result.success
    metadata = result.asset_materializations_for_node("experiment_learning_curve")[0].metadata
    assert "data:image/png;base64," in metadata["learning_curve.png"].value
    assert metadata["final_acc__likra"].value >= 0 and metadata["report"].value.endswith("report.md")
