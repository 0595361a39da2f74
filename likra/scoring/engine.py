"""The scoring engine: summed log-likelihoods of continuations, equal to a plain forward pass, done fast.

Shared work is computed once:

* group prefix: tokens every request of a group starts with (a fixed few-shot block, a primer) run
  once, and its KV cache is read by every row that follows;
* family prefix: tokens every request of a family starts with (one item's prompt) appear once in a
  packed row, followed by each member's own remaining tokens (its choice).

Many families are packed into one row with a block attention mask: a token sees the group prefix,
its family's prompt, and the earlier tokens of its own choice, nothing else; position ids restart
for every choice. So every score equals the single-request forward pass up to float rounding, with
no padding inside rows and no per-choice copy of the prompt. Models whose layers mix sliding-window
and full attention (Gemma 2 and 3) get a second mask for the sliding layers, as a custom mask
replaces the one the model would build. Several adapters of one peft model
(and the base model, adapters off) are scored in the same call through peft's mixed-batch
`adapter_names`. Results come back in the order the requests were given.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from likra.models import LoadedModel
from likra.scoring.parts import ModelParts
from likra.scoring.tokens import Encoded, Encoder, ScoringError

BASE = None  # the adapter name meaning "base model, adapters disabled"
_PEFT_BASE = "__base__"


@dataclass(frozen=True)
class Request:
    """Score `continuation` after `context`. Requests of one `family` share a prompt (an item's choices);
    families of one `group` share a long prefix (a fixed few-shot block). Both only speed things up."""

    context: str
    continuation: str
    family: Hashable | None = None
    group: Hashable | None = None


@dataclass(frozen=True)
class Score:
    """Summed log-likelihood of the continuation tokens, and what acc / acc_norm / exact match need."""

    loglik: float
    n_tokens: int
    is_greedy: bool
    n_context_tokens: int
    truncated: bool


@dataclass
class _Family:
    prefix: tuple[int, ...]  # tokens after the group prefix, shared by every member
    members: list[int] = field(default_factory=list)  # request indices


@dataclass
class _Group:
    prefix: tuple[int, ...]
    families: list[_Family]


def sliding_window_of(config: object) -> int | None:
    """The window of a model whose layers mix sliding-window and full attention (Gemma 2, 3), else None."""
    window = getattr(config, "sliding_window", None)
    return window if window and "sliding_attention" in (getattr(config, "layer_types", None) or ()) else None


def common_prefix_length(sequences: Sequence[Sequence[int]]) -> int:
    """Length of the longest token prefix all sequences share."""
    first = sequences[0]
    length = min(len(s) for s in sequences)
    for other in sequences[1:]:
        if tuple(other[:length]) == tuple(first[:length]):
            continue
        low, high = 0, length  # binary search for the first differing position
        while low < high:
            mid = (low + high + 1) // 2
            if tuple(other[:mid]) == tuple(first[:mid]):
                low = mid
            else:
                high = mid - 1
        length = low
    return length


def pack(units: Sequence, length: Callable[[object], int], capacity: int) -> list[list]:
    """First-fit decreasing: units into rows of at most `capacity` tokens (a longer unit gets its own row)."""
    rows: list[list] = []
    room: list[int] = []
    for unit in sorted(units, key=length, reverse=True):
        size = length(unit)
        for index, free in enumerate(room):
            if size <= free:
                rows[index].append(unit)
                room[index] -= size
                break
        else:
            rows.append([unit])
            room.append(capacity - size)
    return rows


class Scorer:
    """Scores requests with one loaded model (and, for a peft model, any of its adapters)."""

    def __init__(self, loaded: LoadedModel, *, row_tokens: int = 512, token_budget: int = 8192, max_rows: int = 64):
        self.loaded = loaded
        self.model = loaded.model
        self.encoder = Encoder(loaded.tokenizer, loaded.max_length, loaded.add_bos)
        self.row_tokens = row_tokens  # tokens packed into one row (attention inside a row is dense)
        self.token_budget = token_budget  # rows x (cached + packed tokens) per model call
        self.max_rows = max_rows
        self.pad_id = loaded.tokenizer.pad_token_id if loaded.tokenizer.pad_token_id is not None else 0
        self.forward_tokens = 0  # tokens run through the model, for throughput reports
        self._parts = ModelParts(self.model)
        self.sliding_window = sliding_window_of(self._parts.config)

    # -- planning --------------------------------------------------------------------------------

    def encode(self, requests: Sequence[Request]) -> list[Encoded]:
        """Token ids of every request, as lm-evaluation-harness would feed them."""
        encoded = []
        for index, request in enumerate(requests):
            try:
                encoded.append(self.encoder.encode(request.context, request.continuation))
            except ScoringError as exc:
                raise ScoringError(f"request {index}: {exc}") from exc
        return encoded

    def plan(self, requests: Sequence[Request], encoded: Sequence[Encoded]) -> list[_Group]:
        """Split requests into groups and families and find the prefixes they share."""
        groups: dict[Hashable, dict[Hashable, list[int]]] = defaultdict(lambda: defaultdict(list))
        for index, request in enumerate(requests):
            family = request.family if request.family is not None else ("context", request.context)
            groups[request.group][family].append(index)
        planned = []
        for families in groups.values():
            members = [m for family in families.values() for m in family]
            # The prefix must stop before the first scored position of every request it serves.
            limit = min(encoded[m].first_scored for m in members)
            shared = 0
            if len(families) > 1:
                shared = min(limit, common_prefix_length([encoded[m].tokens[:-1] for m in members]))
            group_prefix = encoded[members[0]].tokens[:shared]
            planned_families = []
            for family_members in families.values():
                inputs = [encoded[m].tokens[:-1] for m in family_members]
                own = min(min(encoded[m].first_scored for m in family_members), common_prefix_length(inputs))
                planned_families.append(_Family(encoded[family_members[0]].tokens[shared:own], list(family_members)))
            planned.append(_Group(group_prefix, planned_families))
        return planned

    # -- running ---------------------------------------------------------------------------------

    def _forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | dict[str, torch.Tensor] | None,
        position_ids: torch.Tensor,
        past: list[tuple[torch.Tensor, torch.Tensor]] | None,
        adapter_names: list[str] | None,
        want_hidden: bool,
        real_tokens: int,
    ):
        """One model call; returns the final hidden states (if wanted) and the extended KV cache.

        Without an attention mask the model applies plain causal attention (its fast path); that is
        exact whenever padding only trails each row, as no real token can see a later position."""
        from transformers import DynamicCache

        kwargs = {}
        if adapter_names is not None:
            kwargs["adapter_names"] = adapter_names
        if isinstance(attention_mask, dict):  # one mask per attention type (sliding, full)
            kwargs["attention_mask"] = {kind: m.to(self.loaded.device) for kind, m in attention_mask.items()}
        elif attention_mask is not None:
            kwargs["attention_mask"] = attention_mask.to(self.loaded.device)
        self.forward_tokens += real_tokens
        captured = []
        # The decoder's output feeds the LM head; taking it here lets the head run on scored positions only.
        hook = self._parts.capture(captured)
        try:
            out = self.model(
                input_ids=input_ids.to(self.loaded.device),
                position_ids=position_ids.to(self.loaded.device),
                cache=DynamicCache(ddp_cache_data=past) if past else DynamicCache(),
                use_cache=True,
                logits_to_keep=1,
                **kwargs,
            )
        finally:
            hook.remove()
        layers = [(layer.keys, layer.values) for layer in out.past_key_values.layers]  # the cache, extended
        return (captured[0] if want_hidden else None), layers

    @staticmethod
    def _rows(
        layers: list[tuple[torch.Tensor, torch.Tensor]], index: torch.Tensor
    ) -> list[tuple[torch.Tensor, torch.Tensor]]:
        return [(k.index_select(0, index), v.index_select(0, index)) for k, v in layers]

    def _adapter_names(self, adapters: Sequence[str | None], rows_per_adapter: int) -> list[str] | None:
        if list(adapters) == [BASE] and not hasattr(self.model, "peft_config"):
            return None
        return [name if name is not None else _PEFT_BASE for name in adapters for _ in range(rows_per_adapter)]

    @torch.inference_mode()
    def score(
        self,
        requests: Sequence[Request],
        adapters: Sequence[str | None] = (BASE,),
        progress: Callable[[int], None] | None = None,
    ) -> list[list[Score]]:
        """Scores of every request under every adapter: result[a][i] for adapters[a], requests[i]."""
        if not requests:
            return [[] for _ in adapters]
        if any(a is not BASE for a in adapters) and not hasattr(self.model, "peft_config"):
            raise ScoringError(f"adapters {[a for a in adapters if a]} asked of a model without peft adapters")
        encoded = self.encode(requests)
        results: list[list[Score | None]] = [[None] * len(requests) for _ in adapters]
        for group in self.plan(requests, encoded):
            self._score_group(group, encoded, adapters, results, progress)
        return results  # type: ignore[return-value]

    def _score_group(
        self,
        group: _Group,
        encoded: list[Encoded],
        adapters: Sequence[str | None],
        results: list[list[Score | None]],
        progress: Callable[[int], None] | None,
    ) -> None:
        n_adapters, g = len(adapters), len(group.prefix)
        group_kv = None
        if g:
            ids = torch.tensor([group.prefix] * n_adapters)
            _, group_kv = self._forward(
                ids,
                None,
                torch.arange(g).expand(n_adapters, g),
                None,
                self._adapter_names(adapters, 1),
                want_hidden=False,
                real_tokens=g,
            )

        def unit_length(family: _Family) -> int:
            return len(family.prefix) + sum(len(encoded[m].tokens) - 1 - g - len(family.prefix) for m in family.members)

        rows = pack(group.families, unit_length, self.row_tokens)
        rows.sort(key=lambda row: sum(map(unit_length, row)), reverse=True)
        call: list[list[_Family]] = []
        for row in rows:
            width = sum(map(unit_length, call[0])) if call else sum(map(unit_length, row))
            if call and (
                (len(call) + 1) * n_adapters > self.max_rows
                or (len(call) + 1) * n_adapters * (g + width) > self.token_budget
            ):
                self._score_rows(call, g, group_kv, encoded, adapters, results, progress)
                call = []
            call.append(row)
        if call:
            self._score_rows(call, g, group_kv, encoded, adapters, results, progress)

    def _score_rows(
        self,
        rows: list[list[_Family]],
        g: int,
        group_kv,
        encoded: list[Encoded],
        adapters: Sequence[str | None],
        results: list[list[Score | None]],
        progress: Callable[[int], None] | None,
    ) -> None:
        n_rows, n_adapters = len(rows), len(adapters)
        spans = []  # per row: (tokens, positions, family ids, choice ids) as lists
        scored: list[tuple[int, int, int, int]] = []  # (row, column, target token, request)
        for r, row in enumerate(rows):
            tokens, positions, families, choices = [], [], [], []
            for f, family in enumerate(row):
                start = g + len(family.prefix)
                tokens += family.prefix
                positions += range(g, start)
                families += [f] * len(family.prefix)
                choices += [-1] * len(family.prefix)  # -1: the prompt, seen by every choice of the family
                for c, m in enumerate(family.members):
                    enc = encoded[m]
                    suffix = enc.tokens[start:-1]
                    first = len(tokens) + enc.first_scored - start
                    scored += [(r, first + t, target, m) for t, target in enumerate(enc.tokens[-enc.n_cont :])]
                    tokens += suffix
                    positions += range(start, start + len(suffix))
                    families += [f] * len(suffix)
                    choices += [c] * len(suffix)
            spans.append((tokens, positions, families, choices))
        width = max(len(span[0]) for span in spans)
        ids = torch.full((n_rows, width), self.pad_id)
        positions = torch.zeros(n_rows, width, dtype=torch.long)
        families = torch.full((n_rows, width), -2)  # padding: its own family, so no row is fully masked
        choices = torch.full((n_rows, width), -2)
        for r, (tok, pos, fam, cho) in enumerate(spans):
            ids[r, : len(tok)] = torch.tensor(tok)
            positions[r, : len(pos)] = torch.tensor(pos)
            families[r, : len(fam)] = torch.tensor(fam)
            choices[r, : len(cho)] = torch.tensor(cho)
        causal = torch.ones(width, width, dtype=torch.bool).tril()
        same_family = families[:, :, None] == families[:, None, :]
        visible_choice = (choices[:, None, :] == -1) | (choices[:, :, None] == choices[:, None, :])
        mask = torch.ones(n_rows, 1, width, g + width, dtype=torch.bool)
        mask[:, 0, :, g:] = causal & same_family & visible_choice
        attention: torch.Tensor | dict[str, torch.Tensor] = mask.repeat(n_adapters, 1, 1, 1)
        if self.sliding_window:
            # Sliding layers see a key only within `window` positions of the query, as the model's own mask says.
            keys = torch.cat([torch.arange(g).expand(n_rows, g), positions], dim=1)
            near = (positions[:, :, None] - keys[:, None, :]) < self.sliding_window
            attention = {
                "full_attention": attention,
                "sliding_attention": (mask & near[:, None]).repeat(n_adapters, 1, 1, 1),
            }
        past = None
        if g:
            past = self._rows(group_kv, torch.arange(n_adapters).repeat_interleave(n_rows))
        hidden, _ = self._forward(
            ids.repeat(n_adapters, 1),
            attention,
            positions.repeat(n_adapters, 1),
            past,
            self._adapter_names(adapters, n_rows),
            want_hidden=True,
            real_tokens=n_adapters * sum(len(span[0]) for span in spans),
        )
        # Only the positions that score a continuation token go through the LM head.
        row_index = torch.tensor([r for r, _, _, _ in scored])
        column = torch.tensor([c for _, c, _, _ in scored])
        target = torch.tensor([t for _, _, t, _ in scored], device=hidden.device)
        for a in range(n_adapters):
            logprobs = F.log_softmax(self._parts.logits(hidden[a * n_rows + row_index, column]), dim=-1)
            token_logprob = logprobs.gather(1, target.unsqueeze(1)).squeeze(1).tolist()
            token_greedy = (logprobs.argmax(dim=-1) == target).tolist()
            offset = 0
            while offset < len(scored):
                m = scored[offset][3]
                n = encoded[m].n_cont
                results[a][m] = Score(
                    loglik=sum(token_logprob[offset : offset + n]),
                    n_tokens=n,
                    is_greedy=all(token_greedy[offset : offset + n]),
                    n_context_tokens=encoded[m].n_context,
                    truncated=encoded[m].truncated,
                )
                offset += n
        if progress:
            progress(sum(len(f.members) for row in rows for f in row))


def score_naive(loaded: LoadedModel, requests: Sequence[Request]) -> list[Score]:
    """Reference: each request alone, one full forward pass, no padding, no cache."""
    encoder = Encoder(loaded.tokenizer, loaded.max_length, loaded.add_bos)
    scores = []
    with torch.inference_mode():
        for request in requests:
            enc = encoder.encode(request.context, request.continuation)
            inputs = torch.tensor([enc.tokens[:-1]], device=loaded.device)
            logprobs = F.log_softmax(loaded.model(input_ids=inputs).logits.float(), dim=-1)[0]
            target = torch.tensor(enc.tokens[-enc.n_cont :], device=loaded.device)
            rows = logprobs[enc.first_scored : enc.first_scored + enc.n_cont]
            scores.append(
                Score(
                    float(rows.gather(1, target.unsqueeze(1)).sum()),
                    enc.n_cont,
                    bool((rows.argmax(dim=-1) == target).all()),
                    enc.n_context,
                    enc.truncated,
                )
            )
    return scores
