"""Training one head: maximum likelihood of its answers, one pass, checkpoints along the way (PAPER.md §3).

* Loss on the answer tokens only (the context is the prompt, never learned), averaged over every answer
  token of an optimizer step (HF Trainer's token-level mean, across accumulated batches too).
* AdamW (betas 0.9/0.999, eps 1e-8, no weight decay), constant learning rate, no warmup, gradients
  clipped to `max_grad_norm`; only the head's own LoRA weights train.
* One run gives a whole learning curve: a checkpoint when the examples seen reach each size. Batches
  are cut at checkpoint sizes, so a checkpoint holds exactly N examples whatever the batch size; with a
  constant learning rate it equals a separate run on those N examples.
* Resumable: each checkpoint keeps the optimizer state, so a killed run continues from its last
  checkpoint and ends with the same adapters as an uninterrupted one.
* Later epochs revisit the rows in a seeded order of their own.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from likra.config import TrainConfig
from likra.heads import STATE, WEIGHTS, Checkpoint, save_checkpoint
from likra.models import LoadedModel
from likra.scoring.parts import ModelParts
from likra.scoring.tokens import Encoded, Encoder


@dataclass(frozen=True)
class Step:
    """One optimizer step: the examples it trains on (indices into the schedule), split into batches."""

    start: int
    end: int
    batches: tuple[tuple[int, int], ...]


def checkpoint_sizes(sizes: Sequence[int] | None, available: int) -> list[int]:
    """The sizes a head is saved at: those asked for (default 8, 16, 32, ... and the end of the data), never
    beyond the examples available."""
    if sizes is None:
        sizes = [2**k for k in range(3, max(3, available.bit_length()) + 1) if 2**k < available] + [available]
    stop = min(max(sizes), available)
    return sorted({s for s in sizes if s <= stop} | {stop})


def plan_steps(stop: int, checkpoints: Sequence[int], batch_size: int, grad_accum: int) -> list[Step]:
    """Optimizer steps over the first `stop` examples, cut so that every checkpoint size ends a step."""
    steps, start = [], 0
    while start < stop:
        boundary = min(c for c in checkpoints if c > start)
        end = min(start + batch_size * grad_accum, boundary)
        batches = tuple((b, min(b + batch_size, end)) for b in range(start, end, batch_size))
        steps.append(Step(start, end, batches))
        start = end
    return steps


def schedule(n_rows: int, epochs: int, seed: int) -> list[int]:
    """Row indices in training order: the rows as given, then each later epoch in a seeded order."""
    order = list(range(n_rows))
    for epoch in range(1, epochs):
        again = list(range(n_rows))
        random.Random(f"{seed}:epoch:{epoch}").shuffle(again)
        order += again
    return order


def answer_nll(
    model: Any, parts: ModelParts, batch: Sequence[Encoded], pad_id: int, device: torch.device
) -> tuple[torch.Tensor, int]:
    """Summed negative log-likelihood of the batch's answer tokens, and how many there are.

    Rows are padded on the right, so no real token sees padding and no attention mask is needed; the LM
    head runs on the answer positions only."""
    width = max(len(e.tokens) - 1 for e in batch)
    ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
    rows, columns, targets = [], [], []
    for r, encoded in enumerate(batch):
        inputs = encoded.tokens[:-1]
        ids[r, : len(inputs)] = torch.tensor(inputs)
        rows += [r] * encoded.n_cont
        columns += range(encoded.first_scored, encoded.first_scored + encoded.n_cont)
        targets += encoded.tokens[-encoded.n_cont :]
    captured: list[torch.Tensor] = []
    hook = parts.capture(captured)
    try:
        model(input_ids=ids.to(device), use_cache=False, logits_to_keep=1)
    finally:
        hook.remove()
    hidden = captured[0][torch.tensor(rows, device=device), torch.tensor(columns, device=device)]
    logits = parts.logits(hidden)
    return F.cross_entropy(logits, torch.tensor(targets, device=device), reduction="sum"), len(targets)


def _resume(folder: Path, model: Any, head: str, optimizer: torch.optim.Optimizer) -> int:
    """Load the head's weights and optimizer state from its latest checkpoint; the examples it had seen."""
    from peft import set_peft_model_state_dict
    from safetensors.torch import load_file

    set_peft_model_state_dict(model, load_file(folder / WEIGHTS), adapter_name=head)
    state = torch.load(folder / STATE, weights_only=False)
    optimizer.load_state_dict(state["optimizer"])
    return int(state["n_examples"])


def latest_resumable(head_dir: Path) -> Path | None:
    """The head's latest complete checkpoint that holds optimizer state."""
    found = sorted(p for p in head_dir.glob("n-*") if (p / STATE).is_file() and not p.name.endswith(".partial"))
    return found[-1] if found else None


def checkpoint_dir(run_dir: Path, head: str, n_examples: int) -> Path:
    """Where a head's checkpoint at N examples lives."""
    return run_dir / head / f"n-{n_examples:06d}"


def base_parameters(model: Any) -> int:
    """Parameters of the base model, its LoRA adapters left out."""
    return sum(p.numel() for name, p in model.named_parameters() if "lora_" not in name)


def learning_rate(loaded: LoadedModel, config: TrainConfig) -> float:
    """The configured rate, else the paper's rate for the base model's size."""
    return config.learning_rate(base_parameters(loaded.model))


def train_head(
    loaded: LoadedModel,
    head: str,
    rows: Sequence[tuple[str, str]],
    config: TrainConfig,
    run_dir: Path,
    provenance: dict,
    *,
    base_name: str,
    on_checkpoint: Callable[[Checkpoint], None] | None = None,
    progress: Callable[[int, float], None] | None = None,
) -> list[Checkpoint]:
    """Train one head of a peft model on its (context, continuation) rows; save and report each checkpoint.

    A head with checkpoints in `run_dir` continues after its latest one."""
    model = loaded.model
    model.set_adapter(head)  # only this head's weights require gradients now
    parameters = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(
        parameters, lr=learning_rate(loaded, config), betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0
    )
    encoder = Encoder(loaded.tokenizer, loaded.max_length, loaded.add_bos)
    order = schedule(len(rows), config.epochs, config.seed)
    sizes = checkpoint_sizes(config.sizes, len(order))
    head_dir = run_dir / head
    head_dir.mkdir(parents=True, exist_ok=True)
    resume_from = latest_resumable(head_dir)
    seen = _resume(resume_from, model, head, optimizer) if resume_from else 0
    pad_id = loaded.tokenizer.pad_token_id if loaded.tokenizer.pad_token_id is not None else 0
    parts = ModelParts(model)
    model.train()
    saved: list[Checkpoint] = []
    window_loss, window_tokens, started = 0.0, 0, time.perf_counter()
    for step in plan_steps(sizes[-1], sizes, config.batch_size, config.grad_accum):
        if step.end <= seen:
            continue
        encoded = [[encoder.encode(*rows[order[i]]) for i in range(a, b)] for a, b in step.batches]
        n_tokens = sum(e.n_cont for batch in encoded for e in batch)
        optimizer.zero_grad(set_to_none=True)
        for batch in encoded:
            nll, _ = answer_nll(model, parts, batch, pad_id, loaded.device)
            (nll / n_tokens).backward()  # token-level mean over the whole step
            window_loss += nll.item()
        window_tokens += n_tokens
        torch.nn.utils.clip_grad_norm_(parameters, config.max_grad_norm)
        optimizer.step()
        seen = step.end
        if progress:
            progress(step.end - step.start, window_loss / max(window_tokens, 1))
        if seen in sizes:
            loss = window_loss / window_tokens if window_tokens else None
            saved.append(
                _save(
                    model,
                    head,
                    run_dir,
                    seen,
                    optimizer,
                    {**provenance, "loss": loss, "seconds": round(time.perf_counter() - started, 3)},
                    base_name,
                )
            )
            for older in head_dir.glob("n-*"):
                if older != saved[-1].path:
                    (older / STATE).unlink(missing_ok=True)  # only the latest checkpoint is resumed from
            if on_checkpoint:
                on_checkpoint(saved[-1])
            window_loss, window_tokens, started = 0.0, 0, time.perf_counter()
    model.eval()
    return saved


def _save(
    model: Any,
    head: str,
    run_dir: Path,
    n_examples: int,
    optimizer: torch.optim.Optimizer,
    provenance: dict,
    base_name: str,
) -> Checkpoint:
    folder = checkpoint_dir(run_dir, head, n_examples)
    state = {"optimizer": optimizer.state_dict(), "n_examples": n_examples}
    key = save_checkpoint(model, head, folder, {**provenance, "n_examples": n_examples}, base_name, state)
    return Checkpoint(head, n_examples, folder, key, provenance["loss"], provenance["seconds"])
