"""Our scoring engine against lm-evaluation-harness (HF backend) on the same model, items and prompts.

Both score ARC-Challenge items from ../shared/data/benchmarks with SmolLM2-135M-Instruct in fp32,
0-shot and k-shot, with the same torch threads. The sample holds only the test split, so its first
k rows play the training split the exemplars come from (lm-eval's `first_n` sampler; ours takes the
first k of the few-shot split too) and the items after them are scored: both build identical prompts.
Each side runs in its own process so peak memory is its own. Prints
max |Δ log-likelihood|, acc/acc_norm agreement, choices per second of each and their ratio, and
the share of the model's raw batched forward throughput each reaches.

    python bench/scoring_vs_lm_eval.py [--items 200] [--fewshot-items 20] [--fewshot 25]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SAMPLES = Path(__file__).resolve().parents[2] / "shared" / "data" / "benchmarks"
ARC = SAMPLES / "arc_challenge" / "ARC-Challenge-Test.jsonl"

TASK_YAML = """task: arc_challenge_bench
dataset_path: json
dataset_kwargs:
  data_files:
    train: {train}
    test: {test}
output_type: multiple_choice
test_split: test
fewshot_split: train
fewshot_config:
  sampler: first_n
doc_to_text: "Question: {{{{question}}}}\\nAnswer:"
doc_to_target: "{{{{choices.label.index(answerKey)}}}}"
doc_to_choice: "{{{{choices.text}}}}"
metric_list:
  - metric: acc
  - metric: acc_norm
"""


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def split_sample(work: Path, n_items: int, fewshot: int) -> tuple[list[str], list[str]]:
    """The sample's first `fewshot` lines as the training split, the next `n_items` as the test split."""
    lines = ARC.read_text().splitlines()
    train, test = lines[:fewshot], lines[fewshot : fewshot + n_items]
    release = work / "release"
    release.mkdir(exist_ok=True)
    (release / "ARC-Challenge-Test.jsonl").write_text("\n".join(test) + "\n")
    if train:
        (release / "ARC-Challenge-Train.jsonl").write_text("\n".join(train) + "\n")
    return train, test


def run_lm_eval(work: Path, model_dir: str, n_items: int, fewshot: int, batch_size: int) -> dict:
    """lm-eval's own pipeline; timing covers simple_evaluate with the model already loaded."""
    import lm_eval
    from lm_eval.models.huggingface import HFLM
    from lm_eval.tasks import TaskManager

    from warehouse.sources.arc import ArcChallenge

    train, test = split_sample(work, n_items, fewshot)
    files = {}
    for split, lines in (("train", train or test[:1]), ("test", test)):
        files[split] = work / f"arc_{split}.jsonl"
        # lm-eval's ARC task reads the hub's flat layout, which the adapter maps the release rows to.
        hub_rows = (ArcChallenge().from_local(json.loads(line)) for line in lines)
        files[split].write_text("".join(json.dumps(row) + "\n" for row in hub_rows))
    tasks = work / "tasks"
    tasks.mkdir(exist_ok=True)
    (tasks / "arc_challenge_bench.yaml").write_text(TASK_YAML.format(train=files["train"], test=files["test"]))
    lm = HFLM(pretrained=model_dir, dtype="float32", batch_size=batch_size, device="cpu")
    started = time.perf_counter()
    results = lm_eval.simple_evaluate(
        model=lm,
        tasks=["arc_challenge_bench"],
        num_fewshot=fewshot,
        limit=n_items,
        log_samples=True,
        task_manager=TaskManager(include_path=str(tasks)),
    )
    seconds = time.perf_counter() - started
    samples = results["samples"]["arc_challenge_bench"]
    logliks = {f"{s['doc_id']}/{c}": float(resp[0][0]) for s in samples for c, resp in enumerate(s["resps"])}
    tokens = 0
    for s in samples:  # input tokens lm-eval ran: context + continuation - 1, per choice
        for arguments in s["arguments"]:
            context, continuation = (
                (arguments["arg_0"], arguments["arg_1"]) if isinstance(arguments, dict) else arguments
            )
            tokens += len(lm.tok_encode(context + continuation)) - 1
    metrics = results["results"]["arc_challenge_bench"]
    return {
        "seconds": seconds,
        "n_choices": len(logliks),
        "logliks": logliks,
        "tokens": tokens,
        "acc": metrics["acc,none"],
        "acc_norm": metrics["acc_norm,none"],
        "peak_mb": peak_mb(),
    }


def run_ours(work: Path, model_dir: str, n_items: int, fewshot: int) -> dict:
    """Our engine through the warehouse, as `likra score` runs it, on an empty score cache."""
    from likra.models import load_model
    from likra.scoring.run import score_benchmark
    from warehouse.db import connect_read_only
    from warehouse.ingest import ingest
    from warehouse.items import load_items

    db = work / "bench.duckdb"
    split_sample(work, n_items, fewshot)
    ingest("arc_challenge", db=db, path=work / "release")
    loaded = load_model(model_dir, dtype="fp32")
    started = time.perf_counter()
    report = score_benchmark("arc_challenge", db=db, loaded=loaded, fewshot=fewshot, splits=["test"])
    seconds = time.perf_counter() - started
    with connect_read_only(db) as con:
        positions = {i.item_id: i.position for i in load_items(con, "arc_challenge", splits=["test"])}
        rows = con.execute("SELECT item_id, choice, loglik FROM choice_scores").fetchall()
    logliks = {f"{positions[item]}/{choice}": ll for item, choice, ll in rows if item in positions}
    return {
        "seconds": seconds,
        "n_choices": len(logliks),
        "logliks": logliks,
        "tokens": report.forward_tokens,
        "acc": report.accuracy["test"]["acc"],
        "acc_norm": report.accuracy["test"]["acc_norm"],
        "peak_mb": peak_mb(),
    }


def raw_throughput(model_dir: str, batch: int = 32, length: int = 128) -> dict:
    """Tokens per second of one large batched forward pass: the ceiling for any scorer."""
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
    inputs = torch.randint(0, model.config.vocab_size, (batch, length))
    with torch.inference_mode():
        model(input_ids=inputs[:2, :16])
        started = time.perf_counter()
        model(input_ids=inputs, logits_to_keep=1)
        seconds = time.perf_counter() - started
    return {"tokens_per_second": batch * length / seconds, "peak_mb": peak_mb()}


def side(args: argparse.Namespace) -> None:
    import torch

    torch.set_num_threads(args.threads)
    work = Path(args.work)
    if args.side == "lm-eval":
        result = run_lm_eval(work, args.model_dir, args.n, args.k, args.batch_size)
    elif args.side == "ours":
        result = run_ours(work, args.model_dir, args.n, args.k)
    else:
        result = raw_throughput(args.model_dir)
    print("RESULT " + json.dumps(result))


def spawn(kind: str, work: Path, model_dir: str, n: int, k: int, threads: int, batch_size: int) -> dict:
    command = [
        sys.executable,
        __file__,
        "--side",
        kind,
        "--work",
        str(work),
        "--model-dir",
        model_dir,
        "--n",
        str(n),
        "--k",
        str(k),
        "--threads",
        str(threads),
        "--batch-size",
        str(batch_size),
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    for line in done.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT ") :])
    raise RuntimeError(f"{kind} failed:\n{done.stderr[-3000:]}")


def compare(label: str, ours: dict, theirs: dict, raw: float) -> None:
    common = sorted(set(ours["logliks"]) & set(theirs["logliks"]))
    delta = max(abs(ours["logliks"][key] - theirs["logliks"][key]) for key in common)
    items = {key.split("/")[0] for key in common}

    def preds(side: dict) -> dict[str, int]:
        out = {}
        for item in items:
            lls = [side["logliks"][f"{item}/{c}"] for c in range(10) if f"{item}/{c}" in side["logliks"]]
            out[item] = lls.index(max(lls))
        return out

    agree = sum(preds(ours)[i] == preds(theirs)[i] for i in items) / len(items)
    ours_rate, theirs_rate = ours["n_choices"] / ours["seconds"], theirs["n_choices"] / theirs["seconds"]
    print(f"\n== {label}: {len(items)} items, {len(common)} choices ==")
    print(f"max |Δ loglik|          {delta:.2e} nats")
    print(f"acc      ours {ours['acc']:.4f}   lm-eval {theirs['acc']:.4f}   per-item argmax agreement {agree:.3f}")
    print(f"acc_norm ours {ours['acc_norm']:.4f}   lm-eval {theirs['acc_norm']:.4f}")
    print(f"choices/s ours {ours_rate:8.1f}   lm-eval {theirs_rate:8.1f}   ratio {ours_rate / theirs_rate:.2f}x")
    print(
        f"tokens/s  ours {ours['tokens'] / ours['seconds']:8.0f}   "
        f"lm-eval {theirs['tokens'] / theirs['seconds']:8.0f}   "
        f"raw forward {raw:.0f} -> ours {ours['tokens'] / ours['seconds'] / raw:.0%}, "
        f"lm-eval {theirs['tokens'] / theirs['seconds'] / raw:.0%} of raw"
    )
    print(f"peak RSS  ours {ours['peak_mb']:.0f} MB   lm-eval {theirs['peak_mb']:.0f} MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=200, help="items scored 0-shot")
    parser.add_argument("--fewshot-items", type=int, default=20, help="items scored k-shot")
    parser.add_argument("--fewshot", type=int, default=25)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (default: all cores)")
    parser.add_argument("--batch-size", type=int, default=8, help="lm-eval batch size")
    parser.add_argument("--side", choices=["ours", "lm-eval", "raw"], help=argparse.SUPPRESS)
    parser.add_argument("--work", help=argparse.SUPPRESS)
    parser.add_argument("--model-dir", help=argparse.SUPPRESS)
    parser.add_argument("--n", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--k", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.threads == 0:
        import os

        args.threads = os.cpu_count() or 1
    if args.side:
        side(args)
        return
    from likra.models import local_model_dir

    model_dir = str(local_model_dir("smollm2"))
    print(f"model {model_dir}, fp32, {args.threads} threads, lm-eval batch size {args.batch_size}")
    raw = spawn("raw", Path("."), model_dir, 0, 0, args.threads, args.batch_size)
    print(f"raw batched forward: {raw['tokens_per_second']:.0f} tokens/s")
    for label, n, k in (("0-shot", args.items, 0), (f"{args.fewshot}-shot", args.fewshot_items, args.fewshot)):
        with tempfile.TemporaryDirectory() as tmp:
            ours = spawn("ours", Path(tmp), model_dir, n, k, args.threads, args.batch_size)
        with tempfile.TemporaryDirectory() as tmp:
            theirs = spawn("lm-eval", Path(tmp), model_dir, n, k, args.threads, args.batch_size)
        compare(label, ours, theirs, raw["tokens_per_second"])


if __name__ == "__main__":
    main()
