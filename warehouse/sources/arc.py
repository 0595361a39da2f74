"""ARC-Challenge and ARC-Easy (AI2 Reasoning Challenge), prompts as lm-evaluation-harness's `arc_easy.yaml`."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from warehouse.items import Item
from warehouse.sources.base import Benchmark, LocalFile, SourceRow, get, labelled_choices, question_choices_from_local
from warehouse.sources.files import match_files, read_jsonl

_SPLIT_OF_FILE = {"Train": "train", "Dev": "validation", "Test": "test"}


class _Arc(Benchmark):
    hub_id = "allenai/ai2_arc"
    hub_splits = ("train", "validation", "test")

    def local_files(self, path: Path, split: str | None = None) -> list[LocalFile]:
        pattern = rf"{re.escape(self.hub_config)}-(Train|Dev|Test)\.jsonl"
        return [
            LocalFile(_SPLIT_OF_FILE[m.group(1)], p)
            for p, m, _ in match_files(path, {pattern: ""}, self.name, self.local_layout)
        ]

    def read_local(self, file: LocalFile) -> Iterator[SourceRow]:
        return read_jsonl(file)

    def from_local(self, raw: Mapping[str, Any]) -> dict[str, Any]:
        return question_choices_from_local(raw, "question")

    def to_item(self, doc: Mapping[str, Any], row: SourceRow) -> Item:
        choices, gold = labelled_choices(doc)
        question = str(get(doc, "question"))
        return Item(
            source_id=str(get(doc, "id")),
            prompt=f"Question: {question}\nAnswer:",
            choices=choices,
            gold=gold,
            question=question,
        )


class ArcChallenge(_Arc):
    name = "arc_challenge"
    title = "ARC-Challenge"
    hub_config = "ARC-Challenge"
    local_layout = "ARC-Challenge-{Train,Dev,Test}.jsonl (AI2 ARC-V1-Feb2018 release)"


class ArcEasy(_Arc):
    name = "arc_easy"
    title = "ARC-Easy"
    hub_config = "ARC-Easy"
    local_layout = "ARC-Easy-{Train,Dev,Test}.jsonl (AI2 ARC-V1-Feb2018 release)"
