"""Every built-in adapter on the real samples: the README's row counts, and choices[gold] is the marked answer."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import duckdb
import pytest

from warehouse.ingest import ingest
from warehouse.sources.hellaswag import preprocess

# Rows kept per benchmark and split, as `../shared/data/benchmarks/README.md` states them.
README_ROWS = {
    "arc_challenge": {"test": 1172},
    "arc_easy": {"test": 2000},
    "hellaswag": {"train": 2000},
    "mmlu": {"dev": 65, "test": 1883},
    "openbookqa": {"test": 500, "train": 1000},
    "commonsenseqa": {"validation": 1221},
    "piqa": {"validation": 1000},
    "winogrande": {"validation": 767, "train": 640},
    "truthfulqa_mc1": {"validation": 591},
    "truthfulqa_mc2": {"validation": 591},
}
FOLDER = {"truthfulqa_mc1": "truthfulqa", "truthfulqa_mc2": "truthfulqa"}


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _ai2_answers(path: Path) -> dict[str, str]:
    """id -> text of the choice whose label is the answerKey (ARC, OpenBookQA, CommonsenseQA layout)."""
    answers = {}
    for row in _jsonl(path):
        by_label = {c["label"]: c["text"] for c in row["question"]["choices"]}
        answers[row["id"]] = by_label[row["answerKey"].strip()]
    return answers


def _expected(benchmark: str, samples: Path) -> dict[str, str | set[str]]:
    """item_id -> the answer text the source file marks correct, read without the adapters."""
    if benchmark in ("arc_challenge", "arc_easy"):
        name = "ARC-Challenge-Test.jsonl" if benchmark == "arc_challenge" else "ARC-Easy-Test.jsonl"
        return {f"{benchmark}/test/{k}": v for k, v in _ai2_answers(samples / benchmark / name).items()}
    if benchmark == "openbookqa":
        return {
            f"openbookqa/{split}/{k}": v
            for split, file in (("test", "test"), ("train", "train"))
            for k, v in _ai2_answers(samples / "openbookqa" / "Main" / f"{file}.jsonl").items()
        }
    if benchmark == "commonsenseqa":
        return {
            f"commonsenseqa/validation/{k}": v
            for k, v in _ai2_answers(samples / "commonsenseqa" / "dev_rand_split.jsonl").items()
        }
    if benchmark == "hellaswag":
        rows = _jsonl(samples / "hellaswag" / "hellaswag_train.jsonl")
        return {f"hellaswag/train/{r['ind']}": preprocess(r["endings"][int(r["label"])]) for r in rows}
    if benchmark == "mmlu":
        expected = {}
        for split in ("dev", "test"):
            for path in sorted((samples / "mmlu" / split).glob("*.csv")):
                subject = path.name.rsplit("_", 1)[0]
                with path.open(newline="", encoding="utf-8") as handle:
                    for n, row in enumerate(csv.reader(handle)):
                        expected[f"mmlu/{split}/{subject}/{n}"] = row[1 + "ABCD".index(row[5])]
        return expected
    if benchmark == "piqa":
        rows = _jsonl(samples / "piqa" / "dev.jsonl")
        labels = (samples / "piqa" / "dev-labels.lst").read_text().split()
        return {f"piqa/validation/{r['id']}": r["sol1" if label == "0" else "sol2"] for r, label in zip(rows, labels)}
    if benchmark == "winogrande":
        expected = {}
        for split, file in (("validation", "dev"), ("train", "train_s")):
            for r in _jsonl(samples / "winogrande" / f"{file}.jsonl"):
                sentence = r["sentence"]
                expected[f"winogrande/{split}/{r['qID']}"] = sentence[: sentence.index("_")] + r["option" + r["answer"]]
        return expected
    entries = json.loads((samples / "truthfulqa" / "data" / "mc_task.json").read_text())
    key = "mc1_targets" if benchmark == "truthfulqa_mc1" else "mc2_targets"
    trues = [{text for text, label in e[key].items() if label == 1} for e in entries]
    if benchmark == "truthfulqa_mc1":
        return {f"{benchmark}/validation/{n}": next(iter(t)) for n, t in enumerate(trues)}
    return {f"{benchmark}/validation/{n}": t for n, t in enumerate(trues)}


@pytest.mark.parametrize("benchmark", sorted(README_ROWS))
def test_adapter_ingests_readme_row_counts_with_marked_gold(benchmark: str, samples: Path, db: Path) -> None:
    result = ingest(benchmark, db=db, path=samples / FOLDER.get(benchmark, benchmark))

    assert result.items == README_ROWS[benchmark]
    assert result.n_rejects == 0
    expected = _expected(benchmark, samples)
    with duckdb.connect(str(db), read_only=True) as con:
        rows = con.execute(
            "SELECT item_id, choices, gold, golds FROM items WHERE benchmark = ?", [benchmark]
        ).fetchall()
    assert {row[0] for row in rows} == set(expected)
    for item_id, choices, gold, golds in rows:
        if isinstance(expected[item_id], set):
            assert {choices[g] for g in golds} == expected[item_id], item_id
            assert choices[gold] in expected[item_id]
        else:
            assert choices[gold] == expected[item_id], item_id


def test_prompts_follow_lm_eval_task_templates(samples: Path, db: Path) -> None:
    for benchmark in ("arc_challenge", "mmlu", "hellaswag", "winogrande", "openbookqa", "truthfulqa_mc1"):
        ingest(benchmark, db=db, path=samples / FOLDER.get(benchmark, benchmark))
    with duckdb.connect(str(db), read_only=True) as con:

        def one(item_id: str) -> tuple:
            return con.execute(
                "SELECT prompt, description, choices, continuation, format FROM items WHERE item_id = ?", [item_id]
            ).fetchone()

        prompt, _, choices, _, _ = one("arc_challenge/test/Mercury_7175875")
        assert prompt == (
            "Question: An astronomer observes that a planet rotates faster after a meteorite impact. "
            "Which is the most likely effect of this increase in rotation?\nAnswer:"
        )
        assert choices[2] == "Planetary days will become shorter."

        prompt, description, _, _, _ = one("mmlu/test/anatomy/0")
        assert prompt.startswith("Question: A lesion causing compression of the facial nerve") and prompt.endswith(
            "\nAnswer:"
        )
        assert description == "The following are questions (with answers) about anatomy.\n\n"

        prompt, _, choices, _, _ = one("hellaswag/train/4")
        assert prompt == (
            "Removing ice from car: Then, the man writes over the snow covering the window of a car, "
            "and a woman wearing winter clothes smiles. Then"
        )
        assert choices[3] == ", the man continues removing the snow on his car."

        prompt, _, choices, continuation, fmt = one("winogrande/validation/3FCO4VKOZ4BJQ6IFC0VAIBK4KTWE7U-2")
        assert fmt == "partial"
        assert choices == [
            "Sarah was a much better surgeon than Maria so Sarah",
            "Sarah was a much better surgeon than Maria so Maria",
        ]
        assert continuation == "always got the easier cases."

        prompt, _, _, _, _ = one("openbookqa/test/8-343")
        assert prompt.startswith("A person wants to start saving money") and not prompt.endswith(" ")

        prompt, _, _, _, _ = one("truthfulqa_mc1/validation/0")
        assert prompt.startswith("Q: What is human life expectancy in the United States?\n")
        assert prompt.endswith("\n\nQ: What happens if you eat a pomegranate?\nA:")


def test_truthfulqa_choices_are_shuffled_the_same_way_each_time(samples: Path, db: Path) -> None:
    ingest("truthfulqa_mc1", db=db, path=samples / "truthfulqa")
    with duckdb.connect(str(db), read_only=True) as con:
        first = con.execute("SELECT item_id, choices, gold FROM items ORDER BY item_id").fetchall()
    ingest("truthfulqa_mc1", db=db, path=samples / "truthfulqa")
    with duckdb.connect(str(db), read_only=True) as con:
        second = con.execute("SELECT item_id, choices, gold FROM items ORDER BY item_id").fetchall()
        gold_positions = [g for (g,) in con.execute("SELECT gold FROM items").fetchall()]
    assert first == second
    # The source lists the true answer first; after the shuffle its position varies.
    assert len(set(gold_positions)) > 2 and gold_positions.count(0) < len(gold_positions) / 2


def test_mmlu_reads_one_subject_file(samples: Path, db: Path) -> None:
    result = ingest("mmlu", db=db, path=samples / "mmlu" / "test" / "anatomy_test.csv")
    with duckdb.connect(str(db), read_only=True) as con:
        subsets = con.execute("SELECT DISTINCT subset FROM items").fetchall()
    assert list(result.items) == ["test"] and subsets == [("anatomy",)]
