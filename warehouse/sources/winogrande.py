"""WinoGrande in lm-evaluation-harness's partial form: each option fills the blank and becomes a context,
and the rest of the sentence after the blank is the continuation that is scored."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from warehouse.errors import RowError
from warehouse.items import Item
from warehouse.sources.base import Benchmark, LocalFile, SourceRow, as_index, get
from warehouse.sources.files import attach_labels, match_files, read_jsonl, with_labels_file


class Winogrande(Benchmark):
    name = "winogrande"
    title = "WinoGrande (partial scoring)"
    hub_id = "allenai/winogrande"
    hub_config = "winogrande_xl"
    hub_splits = ("train", "validation")  # the test split has no public labels
    local_layout = "dev.jsonl / train_{xs,s,m,l,xl}.jsonl with *-labels.lst beside them (winogrande_1.1)"

    def local_files(self, path: Path, split: str | None = None) -> list[LocalFile]:
        found = match_files(path, {r"(dev|train_(?:xs|s|m|l|xl))\.jsonl": ""}, self.name, self.local_layout)
        return [
            with_labels_file(self.name, p, "validation" if m.group(1) == "dev" else "train", m.group(1))
            for p, m, _ in found
        ]

    def read_local(self, file: LocalFile) -> Iterator[SourceRow]:
        return attach_labels(read_jsonl(file), file.extras["labels"], "label_line")

    def from_local(self, raw: Mapping[str, Any]) -> Mapping[str, Any]:
        answer, label = str(get(raw, "answer")).strip(), str(get(raw, "label_line")).strip()
        if answer != label:
            raise RowError(f"answer {answer!r} disagrees with the labels file ({label!r})")
        return raw

    def to_item(self, doc: Mapping[str, Any], row: SourceRow) -> Item:
        sentence = str(get(doc, "sentence"))
        if "_" not in sentence:
            raise RowError("sentence has no blank '_'")
        blank = sentence.index("_")  # the first '_', as the harness takes it
        options = [str(get(doc, "option1")), str(get(doc, "option2"))]
        return Item(
            source_id=str(doc.get("qID") or row.position),
            prompt=sentence,
            choices=[sentence[:blank] + option for option in options],
            gold=as_index(get(doc, "answer"), 2, base=1),
            format="partial",
            continuation=sentence[blank + 1 :].strip(),
        )
