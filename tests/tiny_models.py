"""Small real models for fast tests: a byte-level BPE tokenizer trained on benchmark text and a
randomly initialised Llama (or Gemma 3) built from a config (seeded, so every run sees the same weights)."""

from __future__ import annotations

from pathlib import Path

import torch

CORPUS = [
    "Question: Which planet is known as the red planet?\nAnswer: Mars",
    "Question: What gas do plants take in?\nAnswer: carbon dioxide",
    "The trophy did not fit into the suitcase because the trophy was too big.",
    "Removing ice from car: Then, the man writes over the snow covering the window of a car.",
    "Q: What is human life expectancy in the United States?\nA: 78 years.",
]


def tiny_tokenizer():
    """A GPT-2 style byte-level BPE tokenizer with 400 tokens, BOS and EOS."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400,
        special_tokens=["<|endoftext|>", "<s>", "</s>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tokenizer.train_from_iterator(CORPUS * 20, trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, bos_token="<s>", eos_token="</s>", unk_token="<|endoftext|>", pad_token="</s>"
    )


# What every tiny decoder shares: its size and the special token ids of `tiny_tokenizer`.
TINY_DECODER = dict(
    hidden_size=64,
    intermediate_size=128,
    num_hidden_layers=2,
    num_attention_heads=4,
    bos_token_id=1,
    eos_token_id=2,
    pad_token_id=2,
)


def tiny_llama(vocab_size: int, max_positions: int = 512, seed: int = 0):
    """A 2-layer Llama (grouped-query attention, as SmolLM2) with random weights, in fp32."""
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=vocab_size,
        num_key_value_heads=2,
        max_position_embeddings=max_positions,
        tie_word_embeddings=True,
        **TINY_DECODER,
    )
    return LlamaForCausalLM(config).eval()


def tiny_gemma3(vocab_size: int, sliding_window: int = 8, seed: int = 0):
    """A 2-layer Gemma 3 with random weights, in fp32: a sliding-window layer, then a full-attention one."""
    from transformers import Gemma3ForCausalLM, Gemma3TextConfig

    torch.manual_seed(seed)
    config = Gemma3TextConfig(
        vocab_size=vocab_size,
        num_key_value_heads=1,
        head_dim=16,
        query_pre_attn_scalar=16,
        sliding_window=sliding_window,
        layer_types=["sliding_attention", "full_attention"],
        max_position_embeddings=512,
        **TINY_DECODER,
    )
    return Gemma3ForCausalLM(config).eval()


def save_tiny_model(folder: Path, max_positions: int = 512) -> Path:
    """Tokenizer and model saved as a local model folder, loadable with `likra.models.load_model`."""
    tokenizer = tiny_tokenizer()
    tiny_llama(len(tokenizer), max_positions).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def save_tiny_cross_encoder(folder: Path, seed: int = 0) -> Path:
    """A 1-layer BERT sequence classifier with NLI labels and random weights, loadable as a sentence-transformers
    CrossEncoder (its judgements are arbitrary: tests use thresholds that make them all or nothing)."""
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizerFast

    folder.mkdir(parents=True, exist_ok=True)
    words = sorted({w for line in CORPUS for w in line.lower().replace("\n", " ").split()})
    (folder / "vocab.txt").write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *words]) + "\n")
    tokenizer = BertTokenizerFast(vocab_file=str(folder / "vocab.txt"))
    labels = {0: "contradiction", 1: "entailment", 2: "neutral"}
    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
        num_labels=3,
        id2label=labels,
        label2id={v: k for k, v in labels.items()},
    )
    BertForSequenceClassification(config).eval().save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder
