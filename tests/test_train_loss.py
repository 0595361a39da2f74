"""The training loss fast path (`likra.train`) against a naive loss on the tiny random Llama.

The fast path pads a batch on the right without an attention mask and runs the LM head on the answer
positions only; the naive loss runs each example alone, whole, and takes cross-entropy over its answer
tokens. train.py trains on the token-level mean over every answer token of an optimizer step (HF Trainer's
mean, across accumulated batches too), so that is the mean compared here, loss and gradient alike.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from likra.config import TrainConfig
from likra.heads import add_heads
from likra.models import LoadedModel, load_model
from likra.scoring.parts import ModelParts
from likra.scoring.tokens import Encoder
from likra.train import answer_nll, train_head

# Answers of different lengths, so padding matters and the token-level mean differs from a mean of means;
# a context ending in a space (the Encoder moves it to the answer) and an empty context (the prefix token).
ROWS = [
    ("Question: Which planet is known as the red planet?\nAnswer:", " Mars"),
    ("Question: What gas do plants take in?\nAnswer:", " carbon dioxide, taken in through the leaves"),
    ("The trophy did not fit into the suitcase because", " the trophy was too big."),
    ("Q: What is human life expectancy in the United States?\nA: ", "78 years."),
    ("", "Removing ice from car: the man writes over the snow"),
]


def with_trained_looking_head(tiny_model: str) -> LoadedModel:
    """The tiny Llama with both heads; the positive head's B randomised so that its A gets gradients too."""
    loaded = add_heads(load_model(tiny_model), TrainConfig().lora, seed=1, heads=("positive", "negative"))
    generator = torch.Generator().manual_seed(5)
    with torch.no_grad():
        for name, param in loaded.model.named_parameters():
            if "lora_B.positive" in name:
                param.copy_(torch.randn(param.shape, generator=generator) * 0.1)
    loaded.model.set_adapter("positive")
    return loaded


def naive_answer_losses(loaded: LoadedModel, rows: list[tuple[str, str]]) -> list[torch.Tensor]:
    """Per example: one plain forward pass over prompt + answer, cross-entropy summed over the answer tokens."""
    encoder = Encoder(loaded.tokenizer, loaded.max_length, loaded.add_bos)
    losses = []
    for context, continuation in rows:
        ctx, cont = encoder.pair(context, continuation)
        ids = ctx + cont
        assert len(ids) <= loaded.max_length  # no truncation: the whole example is read
        logits = loaded.model(input_ids=torch.tensor([ids], device=loaded.device), use_cache=False).logits[0]
        # Position t predicts token t + 1: the answer is predicted from the last context position on.
        predicted = logits[len(ctx) - 1 : len(ids) - 1].float()
        losses.append(F.cross_entropy(predicted, torch.tensor(cont, device=loaded.device), reduction="sum"))
    return losses


def answer_lengths(loaded: LoadedModel, rows: list[tuple[str, str]]) -> list[int]:
    """Answer tokens per example, as the naive loss splits them."""
    encoder = Encoder(loaded.tokenizer, loaded.max_length, loaded.add_bos)
    return [len(encoder.pair(*row)[1]) for row in rows]


def test_answer_nll_of_a_padded_batch_is_the_sum_of_separate_forward_passes(tiny_model: str) -> None:
    loaded = with_trained_looking_head(tiny_model)
    loaded.model.eval()
    encoder = Encoder(loaded.tokenizer, loaded.max_length, loaded.add_bos)
    batch = [encoder.encode(*row) for row in ROWS]
    lengths = answer_lengths(loaded, ROWS)
    assert len(set(lengths)) > 2 and len({len(e.tokens) for e in batch}) == len(ROWS)  # padding is exercised
    with torch.no_grad():
        nll, n_tokens = answer_nll(loaded.model, ModelParts(loaded.model), batch, 2, loaded.device)
        naive = naive_answer_losses(loaded, ROWS)
    assert n_tokens == sum(lengths)
    assert nll.item() == pytest.approx(sum(loss.item() for loss in naive), rel=1e-5)


def test_a_step_trains_on_the_token_level_mean_of_its_answer_tokens(
    tiny_model: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = ROWS[:4]
    loaded = with_trained_looking_head(tiny_model)
    model = loaded.model
    model.train()  # as train_head runs it (no dropout configured, so the same function)
    parameters = [p for p in model.parameters() if p.requires_grad]
    losses = naive_answer_losses(loaded, rows)
    lengths = answer_lengths(loaded, rows)
    naive = torch.stack(losses).sum() / sum(lengths)
    naive.backward()
    naive_grads = [p.grad.detach().clone() for p in parameters]
    model.zero_grad(set_to_none=True)

    # The means train.py does not use must be told apart from the one it does.
    per_example = sum(loss.item() / n for loss, n in zip(losses, lengths)) / len(rows)
    per_batch = sum(sum(losses[i].item() for i in b) / sum(lengths[i] for i in b) for b in ((0, 1), (2, 3))) / 2
    assert abs(per_example - naive.item()) > 1e-3 and abs(per_batch - naive.item()) > 1e-3

    # One optimizer step of two accumulated batches of two; the gradient is read where train_head clips it.
    seen: list[list[torch.Tensor]] = []
    clip = torch.nn.utils.clip_grad_norm_

    def spy(params, max_norm, *args, **kwargs):
        params = list(params)
        seen.append([p.grad.detach().clone() for p in params])
        return clip(params, max_norm, *args, **kwargs)

    monkeypatch.setattr(torch.nn.utils, "clip_grad_norm_", spy)
    reported: list[tuple[int, float]] = []
    config = TrainConfig(model=tiny_model, sizes=[4], batch_size=2, grad_accum=2)
    train_head(
        loaded,
        "positive",
        rows,
        config,
        tmp_path / "run",
        {"base_model": "tiny"},
        base_name=tiny_model,
        progress=lambda n, loss: reported.append((n, loss)),
    )

    assert len(reported) == 1 and reported[0][0] == 4
    assert reported[0][1] == pytest.approx(naive.item(), rel=1e-5)
    assert len(seen) == 1 and len(seen[0]) == len(naive_grads) > 0
    assert any(g.abs().sum() > 0 for g in naive_grads)  # the comparison is not of zeros
    for fast, slow in zip(seen[0], naive_grads):
        torch.testing.assert_close(fast, slow, rtol=1e-4, atol=1e-6)
