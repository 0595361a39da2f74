"""Turning (context, continuation) text into model inputs exactly as lm-evaluation-harness's HF backend does."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from warehouse.errors import LikraError


class ScoringError(LikraError):
    """A request that cannot be scored (empty continuation, continuation longer than the model's context)."""


@dataclass(frozen=True)
class Encoded:
    """One request as token ids: the model reads `tokens[:-1]` and scores the last `n_cont` tokens."""

    tokens: tuple[int, ...]  # context + continuation, left-truncated to max_length + 1
    n_cont: int
    n_context: int  # context tokens before truncation
    truncated: bool

    @property
    def first_scored(self) -> int:
        """Input position whose logits predict the first continuation token."""
        return len(self.tokens) - 1 - self.n_cont


class Encoder:
    """lm-eval's `_encode_pair`: trailing context spaces move to the continuation, the pair is encoded
    whole and split at the length of the encoded context; an empty context becomes the prefix token."""

    def __init__(self, tokenizer: Any, max_length: int, add_bos: bool | None = None):
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.add_bos = add_bos
        bos = tokenizer.bos_token_id
        self.prefix_token_id = bos if bos is not None else tokenizer.eos_token_id
        self._bos_text = tokenizer.decode([self.prefix_token_id]) if self.prefix_token_id is not None else None
        self._last_context: str | None = None
        self._last_context_ids: list[int] = []

    def _encode(self, text: str, add_special_tokens: bool | None = None) -> list[int]:
        kwargs = {}
        if add_special_tokens is not None:
            kwargs["add_special_tokens"] = add_special_tokens
        elif self.add_bos is not None:
            kwargs["add_special_tokens"] = self.add_bos
        if add_special_tokens is None and self._bos_text and text.startswith(self._bos_text):
            kwargs["add_special_tokens"] = False
        return self.tokenizer.encode(text, **kwargs)

    def pair(self, context: str, continuation: str) -> tuple[list[int], list[int]]:
        """Context and continuation token ids, before truncation."""
        if not continuation:
            raise ScoringError(f"empty continuation after context {context[-60:]!r}: nothing to score")
        if context == "":
            cont = self._encode(continuation, add_special_tokens=False)
            if self.prefix_token_id != cont[0]:
                return [self.prefix_token_id], cont
            return cont[:1], cont[1:]
        n_spaces = len(context) - len(context.rstrip())
        if n_spaces:
            continuation = context[-n_spaces:] + continuation
            context = context[:-n_spaces]
        whole = self._encode(context + continuation)
        ctx = self._encode_context(context)
        return ctx, whole[len(ctx) :]

    def _encode_context(self, context: str) -> list[int]:
        # The choices of an item share their context: encode it once.
        if context != self._last_context:
            self._last_context, self._last_context_ids = context, self._encode(context)
        return self._last_context_ids

    def encode(self, context: str, continuation: str) -> Encoded:
        """The request as the model sees it, left-truncated to the model's context like lm-eval."""
        ctx, cont = self.pair(context, continuation)
        if not cont:
            raise ScoringError(f"continuation {continuation!r} adds no token after context {context[-60:]!r}")
        if len(cont) > self.max_length:
            raise ScoringError(
                f"continuation of {len(cont)} tokens is longer than the model's context "
                f"({self.max_length}): {continuation[:60]!r}"
            )
        whole = ctx + cont
        kept = whole[-(self.max_length + 1) :]
        return Encoded(tuple(kept), len(cont), len(ctx), truncated=len(kept) < len(whole))
