"""The `likra` command line: ingest, benchmarks, demo."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from pipelines.cli import main
from warehouse.sql import run_query

REPO = Path(__file__).resolve().parents[1]


def test_ingest_prints_counts_and_first_rejects(samples: Path, tmp_path: Path, db: Path) -> None:
    folder = tmp_path / "piqa"
    folder.mkdir()
    shutil.copy(samples / "piqa" / "dev.jsonl", folder / "dev.jsonl")
    labels = (samples / "piqa" / "dev-labels.lst").read_text().splitlines()
    labels[4] = "3"
    (folder / "dev-labels.lst").write_text("\n".join(labels) + "\n")

    result = CliRunner().invoke(main, ["ingest", "piqa", "--path", str(folder), "--db", str(db)])

    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"piqa: 999 items, 1 rejected, from {folder}")
    assert "validation      999           1" in result.output
    assert "dev.jsonl  line 5     label '3' is out of range for 2 choices" in result.output


def test_ingest_uses_likra_db_env(samples: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("LIKRA_DB", str(tmp_path / "env.duckdb"))
    result = CliRunner().invoke(main, ["ingest", "arc_easy", "--path", str(samples / "arc_easy"), "--limit", "3"])
    assert result.exit_code == 0, result.output
    assert run_query("SELECT count(*) AS n FROM items")["n"][0] == 3
    assert (tmp_path / "env.duckdb").exists()


def test_default_warehouse_is_data_under_cwd(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["ingest", "demo"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "data" / "warehouse.duckdb").exists()


def test_ingest_with_spec(samples: Path, tmp_path: Path, db: Path) -> None:
    spec = tmp_path / "obqa.yaml"
    spec.write_text(
        "task: obqa_stems\ndataset_path: json\ntest_split: test\n"
        "doc_to_text: '{{question.stem}}'\n"
        "doc_to_choice: \"{{question.choices | map(attribute='text') | list}}\"\n"
        "doc_to_target: \"{{'ABCD'.index(answerKey)}}\"\n"
    )
    data = samples / "openbookqa" / "Main" / "test.jsonl"

    result = CliRunner().invoke(main, ["ingest", "--spec", str(spec), "--path", str(data), "--db", str(db)])

    assert result.exit_code == 0, result.output
    assert result.output.startswith("obqa_stems: 500 items, 0 rejected")
    listed = CliRunner().invoke(main, ["benchmarks", "--db", str(db)]).output
    assert "obqa_stems" in listed and "[registered spec]" in listed


def test_errors_are_one_line_with_exit_1(db: Path) -> None:
    runner = CliRunner()
    unknown = runner.invoke(main, ["ingest", "hellaswg", "--db", str(db)])
    assert unknown.exit_code == 1
    assert unknown.output.startswith("error: unknown benchmark 'hellaswg'. Did you mean 'hellaswag'?")
    both = runner.invoke(main, ["ingest", "demo", "--spec", "x.yaml"])
    assert both.exit_code == 2 and "one of them" in both.output
    missing = runner.invoke(main, ["ingest", "--spec", "nope.yaml", "--db", str(db)])
    assert missing.exit_code == 1 and "error: spec nope.yaml: no such file" in missing.output


def test_benchmarks_lists_every_builtin() -> None:
    output = CliRunner().invoke(main, ["benchmarks"]).output
    names = [line.split()[0] for line in output.splitlines()]
    assert names == [
        "arc_challenge",
        "arc_easy",
        "hellaswag",
        "mmlu",
        "openbookqa",
        "commonsenseqa",
        "piqa",
        "winogrande",
        "truthfulqa_mc1",
        "truthfulqa_mc2",
        "demo",
    ]
    assert "hub allenai/ai2_arc (ARC-Challenge)" in output


@pytest.mark.slow
def test_demo_runs_through_dagster_with_the_project_instance(tmp_path: Path, monkeypatch) -> None:
    home = tmp_path / "home"
    home.mkdir()
    shutil.copy(REPO / "dagster.yaml", home / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(home))

    result = CliRunner().invoke(main, ["demo"])

    assert result.exit_code == 0, result.output
    # One line per step, not Dagster's event stream, which goes to the log file the demo names.
    assert "[11/11] likra_eval" in result.output and "DEBUG" not in result.output
    assert "of 11 checks passed" in result.output and "11 of 11 checks passed" in result.output
    log_file = Path(re.search(r"events: (\S+)\)", result.output).group(1))
    assert "STEP_SUCCESS" in log_file.read_text()
    # The learning curve: one row per size, one column per mode, each cell "acc / acc_norm".
    header = next(line for line in result.output.splitlines() if "n_examples" in line)
    assert header.split() == ["fewshot", "n_examples", "base", "sft", "likra", "negbase"]
    assert "Accuracy (acc / acc_norm)" in result.output
    assert re.search(r"^\s+0\s+16\s+\d\.\d+ / \d\.\d+", result.output, re.MULTILINE)
    report = Path(re.search(r"Plot and report: (\S+), (\S+)", result.output).group(2))
    assert report.is_file() and (report.parent / "learning_curve.png").read_bytes().startswith(b"\x89PNG")
    assert 'likra sql "SELECT' in result.output and "make ui" in result.output
    assert (tmp_path / ".dagster" / "storage").is_dir()  # dagster.yaml keeps instance files in .dagster/
    assert run_query("SELECT count(*) AS n FROM items")["n"][0] == 40
    assert run_query("SELECT count(*) AS n FROM choice_scores WHERE adapter = 'base'")["n"][0] == 160
    # The whole graph ran: both heads were trained on the demo set and evaluated.
    assert set(run_query("SELECT DISTINCT mode FROM likra_eval")["mode"]) == {
        "base",
        "sft",
        "likra",
        "negbase",
        "posbase",
    }


def test_mine_says_when_it_reuses_candidates_and_searches_again_when_asked(db: Path, tmp_path: Path) -> None:
    from tiny_models import save_tiny_model

    model = str(save_tiny_model(tmp_path / "tiny-llama"))
    runner = CliRunner()
    assert runner.invoke(main, ["ingest", "demo", "--db", str(db)]).exit_code == 0
    mine = ["mine", "demo", "--model", model, "-k", "3", "--db", str(db)]

    first = runner.invoke(main, mine)
    again = runner.invoke(main, mine)
    forced = runner.invoke(main, [*mine, "--search-again"])

    assert first.exit_code == again.exit_code == forced.exit_code == 0, first.output + again.output + forced.output
    assert "embeddings: 0 cached" in first.output and "unchanged since run" not in first.output
    assert "candidates: 240, unchanged since run" in again.output
    assert "embeddings none needed (candidates reused)" in again.output
    assert "demo: 240 negatives for 40 items" in again.output
    assert "unchanged since run" not in forced.output and "computed" in forced.output


def test_negatives_lists_the_most_plausible_for_their_question_first(db: Path, tiny_model: str) -> None:
    runner = CliRunner()
    assert runner.invoke(main, ["ingest", "demo", "--db", str(db)]).exit_code == 0
    assert runner.invoke(main, ["mine", "demo", "--model", tiny_model, "-k", "3", "--db", str(db)]).exit_code == 0

    result = runner.invoke(main, ["negatives", "demo", "--format", "json", "--limit", "30", "--db", str(db)])

    import json

    rows = json.loads(result.output)
    assert len(rows) == 30 and {"question", "gold", "negative", "margin_pmi", "tier"} <= set(rows[0])
    margins = [row["margin_pmi"] for row in rows]
    assert margins == sorted(margins, reverse=True)
