"""The scoring engine equals a naive full forward pass on every fast path (tiny random Llama, fp32)."""

from __future__ import annotations

import random

import pytest
import torch
from tiny_models import tiny_gemma3, tiny_llama, tiny_tokenizer

from likra.models import LoadedModel
from likra.scoring.engine import Request, Scorer, common_prefix_length, pack, score_naive
from likra.scoring.tokens import Encoder, ScoringError

TOLERANCE = 1e-4

QUESTIONS = [
    ("Question: Which planet is known as the red planet?\nAnswer:", [" Mars", " Venus", " Jupiter", " the Moon"]),
    ("Question: What gas do plants take in?\nAnswer:", [" carbon dioxide", " oxygen", " nitrogen"]),
    (
        "Question: What is the boiling point of water at sea level, in degrees Celsius?\nAnswer:",
        [" 100", " 90", " 212", " 0", " it depends on the pot"],
    ),
    ("Question: Why?\nAnswer:", [" because", " no"]),
]


@pytest.fixture(scope="module")
def loaded() -> LoadedModel:
    tokenizer = tiny_tokenizer()
    return LoadedModel(
        tiny_llama(len(tokenizer)), tokenizer, "tiny/fp32", 512, None, torch.device("cpu"), torch.float32
    )


def item_requests(group: str | None = None, prefix: str = "") -> list[Request]:
    return [
        Request(prefix + prompt, choice, family=n, group=group)
        for n, (prompt, choices) in enumerate(QUESTIONS)
        for choice in choices
    ]


def assert_same(fast, slow) -> None:
    assert len(fast) == len(slow)
    for a, b in zip(fast, slow):
        assert abs(a.loglik - b.loglik) < TOLERANCE, (a, b)
        assert (a.n_tokens, a.is_greedy, a.n_context_tokens, a.truncated) == (
            b.n_tokens,
            b.is_greedy,
            b.n_context_tokens,
            b.truncated,
        )


def test_batched_prompt_reuse_equals_naive(loaded: LoadedModel) -> None:
    requests = item_requests()
    assert_same(Scorer(loaded).score(requests)[0], score_naive(loaded, requests))


def test_small_rows_and_calls_equal_one_big_call(loaded: LoadedModel) -> None:
    requests = item_requests()
    big = Scorer(loaded).score(requests)[0]
    assert_same(Scorer(loaded, row_tokens=8, max_rows=2, token_budget=64).score(requests)[0], big)


def test_fewshot_prefix_reuse_equals_naive(loaded: LoadedModel) -> None:
    shots = "".join(f"{p} {c[0].strip()}\n\n" for p, c in QUESTIONS[:3])
    requests = item_requests(group="3-shot", prefix=shots)
    scorer = Scorer(loaded)
    assert_same(scorer.score(requests)[0], score_naive(loaded, requests))
    # The shared block ran once, not once per item: far fewer tokens than the requests hold.
    total = sum(len(e.tokens) - 1 for e in scorer.encode(requests))
    assert scorer.forward_tokens < total / 3


def test_sliding_window_layers_equal_naive_beyond_the_window() -> None:
    tokenizer = tiny_tokenizer()
    gemma = LoadedModel(
        tiny_gemma3(len(tokenizer), sliding_window=4),
        tokenizer,
        "tiny-gemma3/fp32",
        512,
        True,
        torch.device("cpu"),
        torch.float32,
    )
    shots = "".join(f"{p} {c[0].strip()}\n\n" for p, c in QUESTIONS[:3])
    requests = item_requests(group="3-shot", prefix=shots) + item_requests()
    scorer = Scorer(gemma, row_tokens=64)
    assert scorer.sliding_window == 4
    assert min(len(e.tokens) for e in scorer.encode(requests)) > 2 * 4  # every request outgrows the window
    assert_same(scorer.score(requests)[0], score_naive(gemma, requests))


def test_partial_format_contexts_differ_and_share_the_continuation(loaded: LoadedModel) -> None:
    sentence = "The trophy did not fit into the suitcase because the"
    requests = [Request(f"{sentence} {option}", " was too big.", family="w1") for option in ("trophy", "suitcase")]
    requests += [
        Request("Sarah was a better surgeon than Maria so " + o, " always got the harder cases.", family="w2")
        for o in ("Sarah", "Maria")
    ]
    assert_same(Scorer(loaded).score(requests)[0], score_naive(loaded, requests))


def test_shuffled_requests_give_the_same_scores(loaded: LoadedModel) -> None:
    requests = item_requests()
    order = list(range(len(requests)))
    random.Random(7).shuffle(order)
    scorer = Scorer(loaded)
    straight = scorer.score(requests)[0]
    shuffled = scorer.score([requests[i] for i in order])[0]
    assert_same([shuffled[order.index(i)] for i in range(len(requests))], straight)


def test_requests_without_family_or_group_still_share_equal_contexts(loaded: LoadedModel) -> None:
    requests = [Request(r.context, r.continuation) for r in item_requests()]
    assert_same(Scorer(loaded).score(requests)[0], score_naive(loaded, requests))


def test_left_truncation_matches_naive_and_is_counted(loaded: LoadedModel) -> None:
    short = LoadedModel(loaded.model, loaded.tokenizer, "tiny/fp32", 24, None, torch.device("cpu"), torch.float32)
    long_context = "Question: " + "Which planet is red? " * 12 + "\nAnswer:"
    requests = [Request(long_context, c, family=0) for c in (" Mars", " Venus")] + item_requests()
    fast = Scorer(short).score(requests)[0]
    assert_same(fast, score_naive(short, requests))
    assert fast[0].truncated and fast[0].n_context_tokens > 24


def test_empty_context_scores_after_the_prefix_token(loaded: LoadedModel) -> None:
    requests = [Request("", " Mars is red"), Request("", " carbon dioxide")] + item_requests()
    assert_same(Scorer(loaded).score(requests)[0], score_naive(loaded, requests))


def test_tokenisation_follows_lm_eval(loaded: LoadedModel) -> None:
    encoder = Encoder(loaded.tokenizer, 512)
    tokenizer = loaded.tokenizer
    context, continuation = "Question: Why?\nAnswer:", " because"
    ctx, cont = encoder.pair(context, continuation)
    whole = tokenizer.encode(context + continuation)
    assert ctx == tokenizer.encode(context) and cont == whole[len(ctx) :]
    # Trailing spaces of the context move onto the continuation.
    assert encoder.pair(context + " ", "because") == (ctx, cont)
    # An empty context becomes the prefix (BOS) token.
    assert encoder.pair("", " Mars")[0] == [tokenizer.bos_token_id]


def test_bad_requests_name_the_problem(loaded: LoadedModel) -> None:
    scorer = Scorer(loaded)
    with pytest.raises(ScoringError, match="request 1: empty continuation"):
        scorer.score([Request("Question: Why?\nAnswer:", " no"), Request("Question: Why?\nAnswer:", "")])
    tiny = LoadedModel(loaded.model, loaded.tokenizer, "tiny/fp32", 4, None, torch.device("cpu"), torch.float32)
    with pytest.raises(ScoringError, match="longer than the model's context"):
        Scorer(tiny).score([Request("Q:", " a very long answer that cannot fit at all")])


def test_multi_adapter_pass_equals_separate_passes(loaded: LoadedModel) -> None:
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(1)
    config = LoraConfig(
        r=4, lora_alpha=8, target_modules=["gate_proj", "up_proj", "down_proj"], init_lora_weights=False
    )  # random B, so each head really differs from the base
    model = get_peft_model(tiny_llama(len(loaded.tokenizer)), config, adapter_name="positive")
    model.add_adapter("negative", config)
    model.eval()
    peft_loaded = LoadedModel(model, loaded.tokenizer, "tiny/fp32", 512, None, torch.device("cpu"), torch.float32)
    requests = item_requests(group="g", prefix="Question: Which planet is red?\nAnswer: Mars\n\n")

    together = Scorer(peft_loaded).score(requests, adapters=[None, "positive", "negative"])

    alone = {}
    for name in ("positive", "negative"):
        model.set_adapter(name)
        alone[name] = score_naive(peft_loaded, requests)
    with model.disable_adapter():
        alone[None] = score_naive(peft_loaded, requests)
    for index, name in enumerate([None, "positive", "negative"]):
        assert_same(together[index], alone[name])
    assert abs(together[1][0].loglik - together[0][0].loglik) > 1e-3  # the heads change the numbers


def test_common_prefix_and_batch_plans() -> None:
    assert common_prefix_length([(1, 2, 3, 4), (1, 2, 3), (1, 2, 9, 9)]) == 2
    assert common_prefix_length([(5,), (6,)]) == 0
    rows = pack(list(range(1, 41)) + [99], lambda n: n, capacity=60)
    assert sorted(n for row in rows for n in row) == [*range(1, 41), 99]
    assert [99] in rows  # a unit longer than a row gets one of its own
    assert all(sum(row) <= 60 for row in rows if row != [99])
    assert len(rows) == 15  # 820 tokens fill 14 rows of 60 almost exactly
