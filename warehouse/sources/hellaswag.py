"""HellaSwag, with lm-evaluation-harness's preprocessing (`hellaswag/utils.py`) of context and endings."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from warehouse.errors import RowError
from warehouse.items import Item
from warehouse.sources.base import Benchmark, LocalFile, SourceRow, as_index, get
from warehouse.sources.files import match_files, read_jsonl

_SPLITS = {"train": "train", "val": "validation"}


def preprocess(text: str) -> str:
    """Strip WikiHow bracket artifacts and double spaces, as the harness does."""
    text = text.strip()
    text = text.replace(" [title]", ". ")
    text = re.sub(r"\[.*?\]", "", text)
    return text.replace("  ", " ")


class HellaSwag(Benchmark):
    name = "hellaswag"
    title = "HellaSwag"
    hub_id = "Rowan/hellaswag"
    hub_splits = ("train", "validation")  # the test split has no public labels
    local_layout = "hellaswag_{train,val}.jsonl (rowanz release; the test file has no labels)"

    def local_files(self, path: Path, split: str | None = None) -> list[LocalFile]:
        found = match_files(path, {r"hellaswag_(train|val)\.jsonl": ""}, self.name, self.local_layout)
        return [LocalFile(_SPLITS[m.group(1)], p) for p, m, _ in found]

    def read_local(self, file: LocalFile) -> Iterator[SourceRow]:
        return read_jsonl(file)

    def to_item(self, doc: Mapping[str, Any], row: SourceRow) -> Item:
        endings = get(doc, "endings")
        if not isinstance(endings, list):
            raise RowError("field 'endings' is not a list")
        label = doc.get("label")
        if label is None or str(label).strip() == "":
            raise RowError("no label (HellaSwag test rows are unlabelled)")
        context = get(doc, "ctx_a") + " " + str(get(doc, "ctx_b")).capitalize()
        return Item(
            source_id=str(get(doc, "ind")),
            prompt=preprocess(get(doc, "activity_label") + ": " + context),
            choices=[preprocess(ending) for ending in endings],
            gold=as_index(label, len(endings), what="label"),
        )
