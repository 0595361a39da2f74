"""The hub path (`datasets.load_dataset`) on local folders laid out like the hub datasets."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import duckdb
import polars as pl
import pytest
from warehouse_checks import query

from warehouse.errors import WarehouseError
from warehouse.ingest import ingest


def hub_folder(root: Path, config: str, splits: dict[str, list[dict]]) -> Path:
    """A dataset repository as the hub stores it: README.md declaring the config, parquet per split."""
    root.mkdir(parents=True, exist_ok=True)
    entries = []
    for split, rows in splits.items():
        (root / config).mkdir(exist_ok=True)
        pl.DataFrame(rows).write_parquet(root / config / f"{split}-00000-of-00001.parquet")
        entries.append(f"  - split: {split}\n    path: {config}/{split}-*")
    (root / "README.md").write_text(
        f"---\nconfigs:\n- config_name: {config}\n  data_files:\n" + "\n".join(entries) + "\n---\n"
    )
    return root


def item_rows(db: Path, benchmark: str) -> list[tuple]:
    return query(
        db,
        "SELECT item_id, prompt, description, choices, gold, golds, format, continuation "
        "FROM items WHERE benchmark = ? ORDER BY item_id",
        benchmark,
    )


def test_arc_from_hub_layout_equals_release_files(samples: Path, tmp_path: Path) -> None:
    lines = (samples / "arc_challenge" / "ARC-Challenge-Test.jsonl").read_text().splitlines()[:100]
    rows = [json.loads(line) for line in lines]
    hub_rows = [
        {
            "id": r["id"],
            "question": r["question"]["stem"],
            "answerKey": r["answerKey"],
            "choices": {
                "text": [c["text"] for c in r["question"]["choices"]],
                "label": [c["label"] for c in r["question"]["choices"]],
            },
        }
        for r in rows
    ]
    folder = hub_folder(tmp_path / "ai2_arc", "ARC-Challenge", {"test": hub_rows})
    local = tmp_path / "ARC-Challenge-Test.jsonl"
    local.write_text("\n".join(lines) + "\n")

    from_hub = ingest("arc_challenge", db=tmp_path / "hub.duckdb", hub_id=str(folder), splits=["test"])
    ingest("arc_challenge", db=tmp_path / "local.duckdb", path=local)

    assert from_hub.items == {"test": 100} and from_hub.origin == f"hub {folder}"
    assert item_rows(tmp_path / "hub.duckdb", "arc_challenge") == item_rows(tmp_path / "local.duckdb", "arc_challenge")
    with duckdb.connect(str(tmp_path / "hub.duckdb"), read_only=True) as con:
        [(source,)] = con.execute("SELECT DISTINCT source FROM items").fetchall()
    assert source.startswith(f"hf:{folder}/ARC-Challenge@default#")


def test_mmlu_all_config_numbers_rows_per_subject(samples: Path, tmp_path: Path) -> None:
    hub_rows = []
    for subject in ("anatomy", "astronomy"):
        with (samples / "mmlu" / "test" / f"{subject}_test.csv").open(newline="", encoding="utf-8") as handle:
            for row in csv.reader(handle):
                hub_rows.append(
                    {"question": row[0], "subject": subject, "choices": row[1:5], "answer": "ABCD".index(row[5])}
                )
    folder = hub_folder(tmp_path / "mmlu", "all", {"test": hub_rows})

    ingest("mmlu", db=tmp_path / "hub.duckdb", hub_id=str(folder), splits=["test"])
    for subject in ("anatomy", "astronomy"):
        ingest("mmlu", db=tmp_path / "local.duckdb", path=samples / "mmlu" / "test" / f"{subject}_test.csv")
    # The second local ingestion replaced the first subject's rows (same benchmark/split): compare that subject.
    hub = [r for r in item_rows(tmp_path / "hub.duckdb", "mmlu") if "/astronomy/" in r[0]]
    assert hub == item_rows(tmp_path / "local.duckdb", "mmlu")


def test_truthfulqa_and_winogrande_from_hub_layout(samples: Path, tmp_path: Path) -> None:
    entries = json.loads((samples / "truthfulqa" / "data" / "mc_task.json").read_text())[:50]
    tqa = [
        {
            "question": e["question"],
            **{
                key: {"choices": list(e[key]), "labels": list(e[key].values())}
                for key in ("mc1_targets", "mc2_targets")
            },
        }
        for e in entries
    ]
    folder = hub_folder(tmp_path / "truthful_qa", "multiple_choice", {"validation": tqa})
    result = ingest("truthfulqa_mc2", db=tmp_path / "w.duckdb", hub_id=str(folder))
    assert result.items == {"validation": 50}
    [(golds,)] = (
        duckdb.connect(str(tmp_path / "w.duckdb"), read_only=True)
        .execute("SELECT golds FROM items WHERE item_id = 'truthfulqa_mc2/validation/0'")
        .fetchall()
    )
    assert len(golds) == sum(entries[0]["mc2_targets"].values())

    wino = [json.loads(line) for line in (samples / "winogrande" / "dev.jsonl").read_text().splitlines()[:30]]
    folder = hub_folder(
        tmp_path / "winogrande",
        "winogrande_xl",
        {"validation": [{k: r[k] for k in ("sentence", "option1", "option2", "answer")} for r in wino]},
    )
    result = ingest("winogrande", db=tmp_path / "w.duckdb", hub_id=str(folder), splits=["validation"])
    assert result.items == {"validation": 30}
    rows = item_rows(tmp_path / "w.duckdb", "winogrande")
    assert {r[6] for r in rows} == {"partial"} and all(r[0].startswith("winogrande/validation/") for r in rows)


def test_unreachable_hub_says_how_to_work_offline(db: Path) -> None:
    with pytest.raises(
        WarehouseError, match=r"cannot load hub dataset 'allenai/ai2_arc' config 'ARC-Challenge'.*--path"
    ):
        ingest("arc_challenge", db=db, splits=["test"])
    assert not db.exists()


def test_a_spec_reads_a_hub_layout_folder_inside_its_own_folder_whatever_the_cwd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from warehouse.sources import load_spec

    spec_dir = tmp_path / "quiz"
    hub_folder(
        spec_dir / "release",
        "default",
        {
            "test": [
                {"question": "Which planet is red?", "choices": ["Mars", "Venus"], "answer": 0},
                {"question": "What is 2 + 2?", "choices": ["3", "4"], "answer": 1},
            ]
        },
    )
    (spec_dir / "quiz.yaml").write_text(
        "task: quiz\ndataset_path: release\ndataset_name: default\ntest_split: test\n"
        "doc_to_text: '{{question}}'\ndoc_to_choice: '{{choices}}'\n"
        "doc_to_target: '{{answer}}'\n"
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # the folder is the spec's, never the cwd's

    result = ingest(load_spec(spec_dir / "quiz.yaml"), db=tmp_path / "w.duckdb")

    assert result.items == {"test": 2}
