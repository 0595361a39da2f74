"""Likra: training sets and policies, two heads trained with checkpoints, evaluation in every mode, exports."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import duckdb
import polars as pl
import pytest
import torch
from tiny_models import save_tiny_model
from warehouse_checks import duplicate_keys

from likra.config import LikraConfigError, TrainConfig, train_config
from likra.data import build_training_set, eval_items, eval_requests, exemplar_items, split_items
from likra.evaluate import mode_scores
from likra.heads import CheckpointError, add_heads, save_checkpoint, saved_checkpoints, with_adapters
from likra.models import ModelLoadError, load_model
from likra.policies import PolicyError, wrong_choices
from likra.runs import RunError
from likra.scoring.engine import Scorer
from likra.scoring.requests import build_requests, exemplar
from likra.workflow import train_benchmark
from warehouse.db import connect_read_only
from warehouse.errors import WarehouseError
from warehouse.ingest import ingest
from warehouse.items import load_items
from warehouse.text import normalize


def config(model: str, **values) -> TrainConfig:
    return TrainConfig(model=model, sizes=[4, 8], batch_size=4, **values)


def sql(db: Path, query: str, *params) -> list[tuple]:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(query, list(params)).fetchall()


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, tiny_model: str):
    """One run on the demo set, both heads, checkpoints at 4, 8 and 16 examples, evaluated at w 0, 0.5 and 1."""
    db = tmp_path_factory.mktemp("trained") / "warehouse.duckdb"
    ingest("demo", db=db)
    report = train_benchmark(
        "demo", TrainConfig(model=tiny_model, sizes=[4, 8, 16], batch_size=4, weights=[0.0, 0.5, 1.0]), db=db
    )
    return db, report


def test_both_heads_train_and_checkpoint_at_the_requested_sizes(trained) -> None:
    from peft import PeftModel

    db, report = trained
    found = {(c.head, c.n_examples) for c in report.checkpoints}
    assert found == {(h, n) for h in ("positive", "negative") for n in (4, 8, 16)}
    assert sql(db, "SELECT count(*) FROM likra_checkpoints WHERE run_id = ?", report.run.run_id) == [(6,)]
    # Any checkpoint is a plain peft adapter folder with its provenance beside it.
    folder = next(c.path for c in report.checkpoints if c.head == "negative" and c.n_examples == 8)
    provenance = json.loads((folder / "likra_checkpoint.json").read_text())
    assert provenance["n_examples"] == 8 and provenance["policy"] == "random" and provenance["seed"] == 42
    assert provenance["lr"] == 1e-3  # no lr given: the paper's rate for a model this small
    assert provenance["base_model"] == report.run.model and provenance["set_id"] == report.training.set_id
    base = load_model(report.run.config.model)
    assert isinstance(PeftModel.from_pretrained(base.model, str(folder)), PeftModel)


def test_heads_see_the_same_questions_in_one_seeded_order(trained) -> None:
    db, report = trained
    positive = sql(
        db,
        "SELECT position, item_id, source FROM likra_training_rows WHERE set_id = ? AND head = 'positive' "
        "ORDER BY position",
        report.training.set_id,
    )
    negative = sql(
        db,
        "SELECT position, item_id, source FROM likra_training_rows WHERE set_id = ? AND head = 'negative' "
        "ORDER BY position",
        report.training.set_id,
    )
    assert [r[:2] for r in positive] == [r[:2] for r in negative] and len(positive) == report.training.n_train
    assert {r[2] for r in positive} == {"gold"} and {r[2] for r in negative} == {"own_distractor"}
    order = [item_id for _, item_id, _ in positive]
    assert order != sorted(order)  # a permutation, not the source order


def test_likra_at_w_zero_is_sft_and_every_mode_is_evaluated(trained) -> None:
    db, report = trained
    rows = sql(
        db, "SELECT n_examples, mode, w, acc, acc_norm, n_items FROM likra_eval WHERE run = ?", report.run.run_id
    )
    by_key = {(n, mode, w): (acc, norm) for n, mode, w, acc, norm, _ in rows}
    assert {mode for _, mode, _ in by_key} == {"base", "sft", "likra", "negbase", "posbase"}
    for n in (4, 8, 16):
        assert by_key[(n, "likra", 0.0)] == by_key[(n, "sft", None)]
        assert by_key[(n, "negbase", 0.0)] == by_key[(n, "base", None)]
    # At 0 examples the heads equal the base model: sft is the base, and likra at w = 1 scores every choice 0,
    # a tie that goes to the first choice.
    assert by_key[(0, "sft", None)] == by_key[(0, "base", None)]
    first_is_gold = sum(i.gold == 0 for i in report.training.split.eval) / len(report.training.split.eval)
    assert by_key[(0, "likra", 1.0)] == by_key[(0, "negbase", 1.0)] == (first_is_gold, first_is_gold)
    assert by_key[(0, "likra", 1.0)] != by_key[(0, "base", None)]
    assert {n_items for *_, n_items in rows} == {len(report.training.split.eval)}


def test_learning_rate_and_evaluation_shots_default_to_the_papers_recipe() -> None:
    default = TrainConfig()
    assert default.learning_rate(135_000_000) == 1e-3 and default.learning_rate(3_200_000_000) == 1e-3
    assert default.learning_rate(7_200_000_000) == 1e-4
    assert TrainConfig(lr=5e-4).learning_rate(135_000_000) == 5e-4
    assert [default.eval_fewshot(b) for b in ("arc_challenge", "arc_easy", "hellaswag", "mmlu", "piqa", "demo")] == [
        25,
        25,
        10,
        5,
        0,
        0,
    ]
    assert TrainConfig(fewshot=3).eval_fewshot("arc_easy") == 3


def test_evaluation_exemplars_are_training_questions_and_never_an_evaluated_item(
    tmp_path: Path, tiny_model: str
) -> None:
    db = tmp_path / "warehouse.duckdb"
    ingest("demo", db=db)
    report = train_benchmark("demo", TrainConfig(model=tiny_model, sizes=[4], batch_size=4, fewshot=3), db=db)
    train_ids = {i.item_id for i in report.training.split.train}
    evaluated = {i.item_id: i for i in report.training.split.eval}
    with connect_read_only(db) as con:
        exemplars = exemplar_items(con, report.run.set_id)[:3]
        requests = eval_requests(con, report.run.set_id, eval_items(con, report.run.set_id), 3)
        contexts = {
            c for (c,) in con.execute("SELECT DISTINCT context_hash FROM choice_scores WHERE fewshot = 3").fetchall()
        }
        shots = {
            f
            for (f,) in con.execute(
                "SELECT DISTINCT fewshot FROM likra_eval WHERE run = ?", [report.run.run_id]
            ).fetchall()
        }
    assert len(exemplars) == 3 and {e.item_id for e in exemplars} <= train_ids
    block = "".join(exemplar(e) for e in exemplars)
    assert {r.item.item_id for r in requests} == set(evaluated)
    for request in requests:
        assert request.request.context.startswith(block)
        others = [i for item_id, i in evaluated.items() if item_id != request.item.item_id]
        assert not any(other.prompt in request.request.context for other in others)
    assert {r.context_hash for r in requests} <= contexts and shots == {3}


def test_mode_scores_from_one_pass_equal_separate_single_adapter_passes(demo_db: Path, tiny_model: str) -> None:
    base = load_model(tiny_model)
    with connect_read_only(demo_db) as con:
        requests = build_requests(con, load_items(con, "demo", limit=6))
    torch.manual_seed(3)
    model = add_heads(base, TrainConfig().lora, seed=1, heads=("positive", "negative"))
    for name, param in model.model.named_parameters():
        if "lora_B.positive" in name:
            torch.nn.init.normal_(param, std=0.5)  # a trained-looking positive head; the negative one stays at zero
    model.model.eval()
    together = Scorer(model).score([r.request for r in requests], adapters=[None, "positive", "negative"])
    alone = {}
    for name in ("positive", "negative"):
        model.model.set_adapter(name)
        alone[name] = Scorer(model).score([r.request for r in requests], adapters=[name])[0]
    with model.model.disable_adapter():
        alone[None] = Scorer(model).score([r.request for r in requests])[0]
    for mode in ("base", "sft", "likra", "negbase", "posbase"):
        for i in range(len(requests)):
            one = mode_scores(mode, together[0][i].loglik, together[1][i].loglik, together[2][i].loglik, 0.5)
            apart = mode_scores(
                mode, alone[None][i].loglik, alone["positive"][i].loglik, alone["negative"][i].loglik, 0.5
            )
            assert one == pytest.approx(apart, abs=1e-5)
    # A zero-initialised negative head is the base model: negbase ranks like base, and likra at w = 0 like sft.
    for i in range(len(requests)):
        assert together[2][i].loglik == pytest.approx(together[0][i].loglik, abs=1e-5)
    items = {}
    for i, r in enumerate(requests):
        items.setdefault(r.item.item_id, []).append(i)

    def ranking(mode: str, w: float) -> list[int]:
        return [
            max(
                idx,
                key=lambda i: (
                    mode_scores(mode, together[0][i].loglik, together[1][i].loglik, together[2][i].loglik, w),
                    -i,
                ),
            )
            for idx in items.values()
        ]

    assert ranking("negbase", 0.5) == ranking("base", 0.5)
    assert ranking("likra", 0.0) == ranking("sft", 0.0)


def test_each_policy_picks_what_it_says(demo_db: Path, tiny_model: str, samples: Path) -> None:
    ingest("arc_easy", db=demo_db, path=samples / "arc_easy", limit=20)
    with connect_read_only(demo_db) as con:
        items = {i.item_id: i for i in load_items(con, "demo")}
        picked = {
            policy: build_training_set(con, "demo", config(tiny_model, policy=policy))
            for policy in ("first", "random", "other_question", "other_benchmark")
        }
    for policy, training in picked.items():
        negatives = training.rows.filter(pl.col("head") == "negative")
        assert negatives.height == training.n_train > 0, policy
        for row in negatives.iter_rows(named=True):
            item = items[row["item_id"]]
            assert normalize(row["answer"]) not in {normalize(item.choices[c]) for c in item.true_choices}
            wrong = [item.choices[c] for c in wrong_choices(item)]
            if policy == "first":
                assert row["answer"] == wrong[0]
            elif policy == "random":
                assert row["answer"] in wrong and row["source"] == "own_distractor"
            elif policy == "other_question":
                assert row["source_item_id"] != item.item_id and row["source_item_id"].startswith("demo/")
                assert row["answer"] in items[row["source_item_id"]].choices
            else:
                assert row["source_item_id"].startswith("arc_easy/")
    # Seeded: the same seed picks the same negatives, another seed others.
    with connect_read_only(demo_db) as con:
        again = build_training_set(con, "demo", config(tiny_model, policy="random"))
        other = build_training_set(con, "demo", config(tiny_model, policy="random", seed=7))
    assert again.rows.equals(picked["random"].rows) and not other.rows.equals(picked["random"].rows)


def test_graded_policies_rank_by_the_margin_the_tiers_use(demo_db: Path, tiny_model: str) -> None:
    from mining.config import MiningConfig
    from mining.run import mine_benchmark

    for policy in ("mined_near_miss", "most_plausible"):
        with (
            connect_read_only(demo_db) as con,
            pytest.raises(PolicyError, match=r"mine negatives first \(`likra mine demo`\)"),
        ):
            build_training_set(con, "demo", config(tiny_model, policy=policy))
    mine_benchmark(
        "demo",
        db=demo_db,
        config=MiningConfig(scorer_model=tiny_model, k=5, tiers={"near_miss_margin": -1.0, "plausible_margin": -2.0}),
    )
    with connect_read_only(demo_db) as con:
        built = {
            policy: build_training_set(con, "demo", config(tiny_model, policy=policy))
            for policy in ("mined_near_miss", "most_plausible", "least_plausible")
        }
        graded = con.execute("SELECT item_id, negative, origin, tier, margin_pmi FROM graded_negatives").fetchall()
    own: dict[str, dict[str, float]] = {}
    mined: dict[str, dict[str, float]] = {}
    for item_id, negative, origin, tier, margin in graded:
        if origin == "own_distractor":
            own.setdefault(item_id, {})[negative] = margin
        elif tier == "near_miss":
            mined.setdefault(item_id, {})[negative] = margin
    for policy, training in built.items():
        negatives = training.rows.filter(pl.col("head") == "negative")
        assert negatives.height > 0, policy
        for row in negatives.iter_rows(named=True):
            if policy == "mined_near_miss":  # other questions' answers only, the highest PMI margin first
                assert row["source"] != "own_distractor"
                assert mined[row["item_id"]][row["answer"]] == max(mined[row["item_id"]].values())
            else:
                margins = own[row["item_id"]]
                assert row["source"] == "own_distractor"
                best = max(margins.values()) if policy == "most_plausible" else min(margins.values())
                assert margins[row["answer"]] == best
    near = built["mined_near_miss"]
    assert near.skipped.get("no_near_miss", 0) == sum(1 for i in near.split.train if i.item_id not in mined)


def test_training_and_evaluation_never_share_an_item_or_a_question(tmp_path: Path, db: Path) -> None:
    demo = (Path(__file__).resolve().parents[1] / "warehouse/demo/demo_mcq.jsonl").read_text().splitlines()
    twin = json.loads(demo[0]) | {"id": "twin-of-001", "question": "  what is the SI unit of FORCE? "}
    (tmp_path / "quiz_test.jsonl").write_text("\n".join(demo[:10]) + "\n")
    (tmp_path / "quiz_train.jsonl").write_text("\n".join(demo[10:] + [json.dumps(twin)]) + "\n")
    spec = (Path(__file__).resolve().parents[1] / "warehouse/demo/demo.yaml").read_text()
    spec = spec.replace("task: demo", "task: quiz").replace(
        "    test: demo_mcq.jsonl", "    test: quiz_test.jsonl\n    train: quiz_train.jsonl"
    )
    (tmp_path / "quiz.yaml").write_text(spec + "training_split: train\n")
    from warehouse.sources import load_spec

    ingest(load_spec(tmp_path / "quiz.yaml"), db=db)
    with connect_read_only(db) as con:
        training = build_training_set(con, "quiz", TrainConfig())
        held = build_training_set(con, "quiz", TrainConfig(train_splits=["train", "test"], eval_split="test"))
    for built in (training, held):
        train_ids = set(built.rows["item_id"].to_list())
        assert not train_ids & {i.item_id for i in built.split.eval}
        questions = {normalize(i.question) for i in built.split.train if i.item_id in train_ids}
        assert not questions & {normalize(i.question) for i in built.split.eval}
        assert built.leaks() == 0
    assert training.split.eval_split == "test" and not training.split.holdout
    assert "quiz/train/twin-of-001" not in set(training.rows["item_id"].to_list())
    assert training.skipped["twin_of_eval_question"] == 1
    assert held.split.holdout and 0 < len(held.split.eval) < 10


def test_the_holdout_is_deterministic_and_keeps_twins_together(demo_db: Path) -> None:
    with connect_read_only(demo_db) as con:
        first = split_items(con, "demo", TrainConfig())
        second = split_items(con, "demo", TrainConfig(seed=99, policy="first"))
        wider = split_items(con, "demo", TrainConfig(holdout=0.8))
    assert [i.item_id for i in first.eval] == [i.item_id for i in second.eval]
    assert first.holdout and len(first.eval) + len(first.train) == 40
    assert {i.item_id for i in first.eval} < {i.item_id for i in wider.eval}


def test_same_seed_gives_the_same_adapter_bytes(demo_db: Path, tiny_model: str, tmp_path: Path) -> None:
    ingest("demo", db=tmp_path / "other.duckdb")
    first = train_benchmark("demo", config(tiny_model), db=demo_db, evaluate=False)
    second = train_benchmark("demo", config(tiny_model), db=tmp_path / "other.duckdb", evaluate=False)
    assert first.run.run_id == second.run.run_id
    for a, b in zip(
        sorted(first.checkpoints, key=lambda c: (c.head, c.n_examples)),
        sorted(second.checkpoints, key=lambda c: (c.head, c.n_examples)),
    ):
        assert a.adapter == b.adapter
        assert (a.path / "adapter_model.safetensors").read_bytes() == (
            b.path / "adapter_model.safetensors"
        ).read_bytes()


def test_asking_again_trains_nothing_and_scores_nothing(trained, monkeypatch) -> None:
    import likra.scoring.cached as cached
    import likra.workflow as workflow

    db, report = trained

    def forbidden(*args, **kwargs):
        raise AssertionError("a model was loaded although every head and score existed")

    monkeypatch.setattr(workflow, "load_model", forbidden)
    monkeypatch.setattr(cached, "load_model", forbidden)
    again = train_benchmark("demo", report.run.config, db=db)
    assert not again.trained and again.run.run_id == report.run.run_id
    assert again.evaluation.n_cached == again.evaluation.n_scores and again.evaluation.forward_tokens == 0


def test_bad_input_gets_one_specific_message(demo_db: Path, tiny_model: str, tmp_path: Path) -> None:
    with pytest.raises(RunError, match=r"size 64 is larger than the 16 training examples of 'demo'"):
        train_benchmark("demo", TrainConfig(model=tiny_model, sizes=[8, 64]), db=demo_db)
    with pytest.raises(
        WarehouseError, match=r"evaluation split 'validation' of 'demo' is not ingested; ingested: test"
    ):
        train_benchmark("demo", TrainConfig(model=tiny_model, eval_split="validation"), db=demo_db)
    with pytest.raises(ModelLoadError, match=r"model path .*no-such-model does not exist"):
        train_benchmark("demo", TrainConfig(model=str(tmp_path / "no-such-model")), db=demo_db)
    with pytest.raises(WarehouseError, match="benchmark 'arc_easy' is not ingested yet"):
        train_benchmark("arc_easy", TrainConfig(model=tiny_model), db=demo_db)
    with pytest.raises(LikraConfigError, match="sizes: Value error, every size must be at least 1"):
        train_config(sizes=[0, 8])
    done = train_benchmark("demo", config(tiny_model), db=demo_db, name="mine", evaluate=False)
    with pytest.raises(RunError, match=r"run 'mine' was trained with other settings \(lr: None -> 0.001\)"):
        train_benchmark("demo", config(tiny_model, lr=1e-3), db=demo_db, name="mine")
    # A checkpoint folder from another base model is refused when loaded for scoring.
    other = save_tiny_model(tmp_path / "other-llama", max_positions=256)
    with pytest.raises(CheckpointError, match=r"was trained on base model .*tiny-llama.*not .*other-llama"):
        with_adapters(load_model(str(other)), done.checkpoints)
    assert sql(demo_db, "SELECT count(*) FROM likra_runs") == [(1,)]


def test_a_killed_run_resumes_to_the_same_final_adapters(demo_db: Path, tiny_model: str, tmp_path: Path) -> None:
    import os
    import signal
    import subprocess
    import sys
    import time

    command = [
        str(Path(sys.executable).parent / "likra"),
        "train",
        "demo",
        "--model",
        tiny_model,
        "--sizes",
        "4,8,16",
        "--batch-size",
        "2",
        "--epochs",
        "20",
        "--no-eval",
        "--name",
        "killed",
        "--db",
        str(demo_db),
    ]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    run_dir = demo_db.parent / "likra" / "killed"
    deadline = time.monotonic() + 120
    while not (run_dir / "positive" / "n-000008" / "likra_checkpoint.json").exists():
        assert process.poll() is None and time.monotonic() < deadline, "the run ended before it could be killed"
        time.sleep(0.005)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert not (run_dir / "negative").exists() or not list((run_dir / "negative").glob("n-*"))
    saved = {p: p.stat().st_mtime_ns for p in (run_dir / "positive").glob("n-??????/adapter_model.safetensors")}

    resumed = subprocess.run(command, env=env, capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    # It continued from its last checkpoint: the ones saved before the kill were not trained or written again.
    assert saved and {p: p.stat().st_mtime_ns for p in saved} == saved
    ingest("demo", db=tmp_path / "fresh.duckdb")
    fresh = train_benchmark(
        "demo",
        TrainConfig(model=tiny_model, sizes=[4, 8, 16], batch_size=2, epochs=20),
        db=tmp_path / "fresh.duckdb",
        name="fresh",
        evaluate=False,
    )
    killed = {(c.head, c.n_examples): c for c in saved_checkpoints(run_dir)}
    assert set(killed) == {(c.head, c.n_examples) for c in fresh.checkpoints}
    for checkpoint in fresh.checkpoints:
        again = killed[(checkpoint.head, checkpoint.n_examples)]
        assert (again.path / "adapter_model.safetensors").read_bytes() == (
            checkpoint.path / "adapter_model.safetensors"
        ).read_bytes()
    assert sql(demo_db, "SELECT count(*) FROM likra_checkpoints WHERE run_id = 'killed'") == [(6,)]
    assert sql(demo_db, "SELECT count(*) FROM likra_runs WHERE run_id = 'killed'") == [(1,)]
    assert duplicate_keys(demo_db) == {}
    shutil.rmtree(run_dir)


def test_exports_load_as_trl_datasets(demo_db: Path, tmp_path: Path) -> None:
    from click.testing import CliRunner
    from datasets import load_dataset
    from trl.data_utils import is_conversational, maybe_extract_prompt, unpair_preference_dataset

    from pipelines.cli import main

    paths = {}
    for fmt in ("dpo", "kto"):
        result = CliRunner().invoke(
            main, ["export", "demo", "--format", fmt, "--out", str(tmp_path / fmt), "--db", str(demo_db)]
        )
        assert result.exit_code == 0, result.output
        paths[fmt] = result.output.split()
    assert paths["dpo"] == [str(tmp_path / "dpo.jsonl"), str(tmp_path / "dpo.parquet")]
    pairs = load_dataset("json", data_files=paths["dpo"][0], split="train")
    assert {"prompt", "chosen", "rejected"} <= set(pairs.column_names) and not is_conversational(pairs[0])
    assert maybe_extract_prompt(pairs[0])["prompt"] == pairs[0]["prompt"]  # TRL finds the prompt as given
    assert pairs[0]["chosen"].startswith(" ") and pairs[0]["prompt"].endswith("Answer:")
    rows = load_dataset("parquet", data_files=paths["kto"][1], split="train")
    assert {"prompt", "completion", "label"} <= set(rows.column_names)
    # Unpairing the DPO pairs with TRL gives exactly our KTO rows.
    unpaired = unpair_preference_dataset(pairs.select_columns(["prompt", "chosen", "rejected"]))
    as_set = {(r["prompt"], r["completion"], r["label"]) for r in unpaired}
    assert as_set == {(r["prompt"], r["completion"], r["label"]) for r in rows}


def test_lm_eval_samples_match_the_metrics(trained, tmp_path: Path) -> None:
    from likra.exports import export_benchmark

    db, report = trained
    [path] = export_benchmark(
        "demo", "lm-eval", db=db, run_id=report.run.run_id, mode="likra", w=0.5, n_examples=8, out=tmp_path / "samples"
    )
    samples = [json.loads(line) for line in path.read_text().splitlines()]
    assert len(samples) == len(report.training.split.eval)
    first = samples[0]
    assert {"doc_id", "doc", "target", "arguments", "resps", "filtered_resps", "acc", "acc_norm", "doc_hash"} <= set(
        first
    )
    assert len(first["filtered_resps"]) == len(first["doc"]["choices"]) == len(first["arguments"])
    assert first["arguments"]["gen_args_0"]["arg_0"].endswith("Answer:")
    [(acc, acc_norm)] = sql(
        db,
        "SELECT acc, acc_norm FROM likra_eval WHERE run = ? AND mode = 'likra' AND w = 0.5 AND n_examples = 8",
        report.run.run_id,
    )
    assert sum(s["acc"] for s in samples) / len(samples) == pytest.approx(acc)
    assert sum(s["acc_norm"] for s in samples) / len(samples) == pytest.approx(acc_norm)


def test_cli_trains_evaluates_and_lists_runs(demo_db: Path, tiny_model: str) -> None:
    from click.testing import CliRunner

    from pipelines.cli import main

    result = CliRunner().invoke(
        main,
        [
            "train",
            "demo",
            "--model",
            tiny_model,
            "--sizes",
            "4,8",
            "--batch-size",
            "4",
            "--policy",
            "first",
            "--db",
            str(demo_db),
        ],
    )
    assert result.exit_code == 0, result.output
    run_id = re.search(r"run (demo-\S+):", result.output).group(1)
    assert run_id.startswith("demo-first-") and "16 training questions (policy first; skipped: none)" in result.output
    assert re.search(r"n_examples\s+base\s+sft\s+likra\s+negbase", result.output)
    assert "0-shot; accuracy as acc / acc_norm" in result.output
    listed = CliRunner().invoke(main, ["runs", "--db", str(demo_db)])
    assert run_id in listed.output and "4,8" in listed.output
    evaluated = CliRunner().invoke(main, ["evaluate", run_id, "--w", "0.5", "--mode", "likra", "--db", str(demo_db)])
    assert evaluated.exit_code == 0, evaluated.output
    assert " 0.5 " in evaluated.output and "sft" not in evaluated.output
    missing = CliRunner().invoke(main, ["evaluate", "nope", "--db", str(demo_db)])
    assert missing.exit_code == 1 and missing.output.startswith("error: no Likra run 'nope'; recent runs: demo-first-")


def test_a_warehouse_moved_with_its_folder_still_evaluates_its_runs(
    demo_db: Path, tiny_model: str, tmp_path: Path
) -> None:
    from click.testing import CliRunner

    from pipelines.cli import main

    train = ["train", "demo", "--model", tiny_model, "--sizes", "4", "--batch-size", "4", "--eval-limit", "4"]
    trained = CliRunner().invoke(main, [*train, "--db", str(demo_db)])
    assert trained.exit_code == 0, trained.output
    run_id = re.search(r"run (demo-\S+):", trained.output).group(1)
    moved = tmp_path / "moved"
    moved.mkdir()
    for name in (demo_db.name, "likra"):  # the warehouse and the run folders beside it
        shutil.move(demo_db.parent / name, moved / name)

    evaluated = CliRunner().invoke(main, ["evaluate", run_id, "--w", "0.5", "--db", str(moved / demo_db.name)])
    again = CliRunner().invoke(main, [*train, "--db", str(moved / demo_db.name)])

    assert evaluated.exit_code == 0, evaluated.output
    assert " 0.5 " in evaluated.output
    assert again.exit_code == 0 and "all checkpoints existed" in again.output, again.output


def test_other_benchmarks_can_join_the_training_pool(demo_db: Path, samples: Path) -> None:
    ingest("arc_easy", db=demo_db, path=samples / "arc_easy", limit=12)
    with connect_read_only(demo_db) as con:
        alone = build_training_set(con, "demo", TrainConfig())
        joined = build_training_set(con, "demo", TrainConfig(also_train_on=["arc_easy"]))
    trained = set(joined.rows["item_id"].to_list())
    assert joined.n_train == alone.n_train + 12 and sum(i.startswith("arc_easy/") for i in trained) == 12
    assert [i.item_id for i in joined.split.eval] == [i.item_id for i in alone.split.eval]


def test_saving_a_head_named_by_an_alias_asks_no_hub(tiny_model: str, tmp_path: Path, monkeypatch) -> None:
    import peft.utils.save_and_load as peft_saving

    def no_hub(*args, **kwargs):
        raise AssertionError(f"a head's save asked the hub: {args}")

    monkeypatch.setattr(peft_saving, "check_file_exists_on_hf_hub", no_hub)
    model = add_heads(load_model(tiny_model), TrainConfig().lora, seed=1, heads=("positive",))
    folder = tmp_path / "positive-8"
    save_checkpoint(model.model, "positive", folder, {"n_examples": 8}, base_name="smollm2")
    assert (folder / "adapter_model.safetensors").is_file() and not (folder.parent / "positive-8.partial").exists()
