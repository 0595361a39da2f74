"""OpenBookQA (main), prompt as lm-evaluation-harness's `openbookqa.yaml`: the bare question stem."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from warehouse.items import Item
from warehouse.sources.base import Benchmark, LocalFile, SourceRow, get, labelled_choices, question_choices_from_local
from warehouse.sources.files import match_files, read_jsonl

_SPLITS = {"train": "train", "dev": "validation", "test": "test"}


class OpenBookQA(Benchmark):
    name = "openbookqa"
    title = "OpenBookQA"
    hub_id = "allenai/openbookqa"
    hub_config = "main"
    hub_splits = ("train", "validation", "test")
    local_layout = "Main/{train,dev,test}.jsonl (AI2 OpenBookQA-V1-Sep2018 release)"

    def local_files(self, path: Path, split: str | None = None) -> list[LocalFile]:
        found = match_files(path, {r"(train|dev|test)\.jsonl": ""}, self.name, self.local_layout)
        # Other AI2 releases use the same file names; only those under Main/ are OpenBookQA's questions.
        return [LocalFile(_SPLITS[m.group(1)], p) for p, m, _ in found if p == path or p.parent.name == "Main"]

    def read_local(self, file: LocalFile) -> Iterator[SourceRow]:
        return read_jsonl(file)

    def from_local(self, raw: Mapping[str, Any]) -> dict[str, Any]:
        return question_choices_from_local(raw, "question_stem")

    def to_item(self, doc: Mapping[str, Any], row: SourceRow) -> Item:
        choices, gold = labelled_choices(doc)
        return Item(source_id=str(get(doc, "id")), prompt=str(get(doc, "question_stem")), choices=choices, gold=gold)
