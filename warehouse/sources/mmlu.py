"""MMLU in continuation style (answer texts, not letters), as lm-evaluation-harness's `mmlu/continuation`."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from warehouse.errors import RowError
from warehouse.items import Item
from warehouse.sources.base import Benchmark, LocalFile, SourceRow, as_index, get
from warehouse.sources.files import match_files, read_csv

_SPLITS = {"dev": "dev", "val": "validation", "test": "test"}
_LETTERS = "ABCD"


def description(subject: str) -> str:
    """The per-subject task description lm-eval puts before any few-shot examples."""
    return f"The following are questions (with answers) about {subject.replace('_', ' ')}.\n\n"


class Mmlu(Benchmark):
    name = "mmlu"
    title = "MMLU (continuation: answer texts)"
    hub_id = "cais/mmlu"
    hub_config = "all"
    hub_splits = ("dev", "validation", "test")
    local_layout = "{dev,val,test}/<subject>_{dev,val,test}.csv (hendrycks data.tar: no header, question, A-D, letter)"

    def local_files(self, path: Path, split: str | None = None) -> list[LocalFile]:
        found = match_files(path, {r"(\w+?)_(dev|val|test)\.csv": ""}, self.name, self.local_layout)
        return [LocalFile(_SPLITS[m.group(2)], p, subset=m.group(1)) for p, m, _ in found]

    def read_local(self, file: LocalFile) -> Iterator[SourceRow]:
        return read_csv(file, header=False, columns=["question", "A", "B", "C", "D", "answer"])

    def from_local(self, raw: Mapping[str, Any]) -> dict[str, Any]:
        letter = str(raw["answer"]).strip()
        if letter not in _LETTERS or not letter:
            raise RowError(f"answer {letter!r} is not one of the letters A, B, C, D")
        return {"question": raw["question"], "choices": [raw[k] for k in _LETTERS], "answer": _LETTERS.index(letter)}

    def read_hub(self, split: str, dataset_id: str | None = None, revision: str | None = None) -> Iterator[SourceRow]:
        # The hub's "all" config numbers rows across subjects; per-subject numbering matches the files.
        seen: Counter[str] = Counter()
        for row in super().read_hub(split, dataset_id, revision):
            subject = str(row.doc.get("subject", ""))
            yield replace(row, subset=subject or None, position=seen[subject])
            seen[subject] += 1

    def to_item(self, doc: Mapping[str, Any], row: SourceRow) -> Item:
        subject = row.subset or get(doc, "subject")
        choices = list(get(doc, "choices"))
        return Item(
            source_id=str(row.position),
            prompt=f"Question: {str(get(doc, 'question')).strip()}\nAnswer:",
            question=str(get(doc, "question")).strip(),
            choices=choices,
            gold=as_index(get(doc, "answer"), len(choices)),
            subset=subject,
            description=description(subject),
        )
