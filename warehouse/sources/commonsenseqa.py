"""CommonsenseQA, scored on answer texts ("Question: ...\\nAnswer:" + choice), as lm-eval's `commonsense_qa/main.yaml`.

lm-eval's newer default task scores letters after listing the options; answer texts are what
negative mining needs, so this adapter keeps the continuation form the harness used first.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from warehouse.items import Item
from warehouse.sources.base import Benchmark, LocalFile, SourceRow, get, labelled_choices
from warehouse.sources.files import match_files, read_jsonl

_SPLITS = {"train": "train", "dev": "validation"}


class CommonsenseQA(Benchmark):
    name = "commonsenseqa"
    title = "CommonsenseQA"
    hub_id = "tau/commonsense_qa"
    hub_splits = ("train", "validation")  # the test split has no public labels
    local_layout = "{train,dev}_rand_split.jsonl (release files; the test file has no answers)"

    def local_files(self, path: Path, split: str | None = None) -> list[LocalFile]:
        found = match_files(path, {r"(train|dev)_rand_split\.jsonl": ""}, self.name, self.local_layout)
        return [LocalFile(_SPLITS[m.group(1)], p) for p, m, _ in found]

    def read_local(self, file: LocalFile) -> Iterator[SourceRow]:
        return read_jsonl(file)

    def from_local(self, raw: Mapping[str, Any]) -> dict[str, Any]:
        choices = get(raw, "question", "choices")
        return {
            "id": get(raw, "id"),
            "question": get(raw, "question", "stem"),
            "question_concept": raw.get("question", {}).get("question_concept"),
            "choices": {"label": [c.get("label") for c in choices], "text": [c.get("text") for c in choices]},
            "answerKey": get(raw, "answerKey"),
        }

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
