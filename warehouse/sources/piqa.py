"""PIQA (physical commonsense), prompt as lm-evaluation-harness's `piqa.yaml`; labels live in a separate file."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from warehouse.items import Item
from warehouse.sources.base import Benchmark, LocalFile, SourceRow, as_index, get
from warehouse.sources.files import attach_labels, match_files, read_jsonl, with_labels_file

_SPLITS = {"train": "train", "dev": "validation", "valid": "validation"}


class Piqa(Benchmark):
    name = "piqa"
    title = "PIQA"
    hub_id = "ybisk/piqa"
    hub_splits = ("train", "validation")  # the test split has no public labels
    local_layout = "{train,dev}.jsonl with {train,dev}-labels.lst beside it (0 = sol1, 1 = sol2)"

    def local_files(self, path: Path, split: str | None = None) -> list[LocalFile]:
        found = match_files(path, {r"(train|dev|valid)\.jsonl": ""}, self.name, self.local_layout)
        return [with_labels_file(self.name, p, _SPLITS[m.group(1)], m.group(1)) for p, m, _ in found]

    def read_local(self, file: LocalFile) -> Iterator[SourceRow]:
        return attach_labels(read_jsonl(file), file.extras["labels"], "label")

    def to_item(self, doc: Mapping[str, Any], row: SourceRow) -> Item:
        choices = [str(get(doc, "sol1")), str(get(doc, "sol2"))]
        goal = str(get(doc, "goal"))
        return Item(
            source_id=str(doc.get("id") or row.position),
            prompt=f"Question: {goal}\nAnswer:",
            choices=choices,
            gold=as_index(get(doc, "label"), 2, what="label"),
            question=goal,
        )
