"""PIQA (physical commonsense), prompt as lm-evaluation-harness's `piqa.yaml`; labels live in a separate file."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from warehouse.errors import SourceFormatError
from warehouse.sources.base import (Benchmark, Item, LocalFile, SourceRow, as_index, attach_labels, get,
                                    match_files, read_jsonl)

_SPLITS = {"train": "train", "dev": "validation", "valid": "validation"}


def with_labels_file(benchmark: str, data: Path, split: str, stem: str) -> LocalFile:
    """A data file and the `<stem>-labels.lst` beside it, which its rows need."""
    labels = data.with_name(f"{stem}-labels.lst")
    if not labels.exists():
        raise SourceFormatError(f"{benchmark}: {data} needs its labels file {labels.name} beside it")
    return LocalFile(split, data, extras={"labels": labels})


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
        return Item(source_id=str(doc.get("id") or row.position), prompt=f"Question: {goal}\nAnswer:",
                    choices=choices, gold=as_index(get(doc, "label"), 2, what="label"), question=goal)
