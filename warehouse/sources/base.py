"""What every benchmark source shares: rows read from files or the hub, and the helpers adapters use to
turn a row into an `Item`."""

from __future__ import annotations

import os
import re
import socket
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from warehouse.errors import RowError, WarehouseError
from warehouse.items import Item


@dataclass(frozen=True)
class SourceRow:
    """One row read from a benchmark file or hub dataset, before it becomes an item."""

    split: str
    origin: str  # the file or dataset it came from, named in rejects
    provenance: str  # what `items.source` records: file name + content hash, or hub id + revision
    ref: str  # where in the origin: 'line 12', 'record 3 (lines 5-7)', 'row 40'
    position: int  # 0-based index among the rows of its origin; the id where the source has none
    doc: Any = None  # the parsed row; None when it could not be parsed
    error: str | None = None  # why it could not be parsed
    subset: str | None = None  # e.g. the MMLU subject a per-subject file belongs to


@dataclass(frozen=True)
class LocalFile:
    """A release file found under --path, with the split it holds."""

    split: str
    path: Path
    subset: str | None = None
    extras: Mapping[str, Path] = field(default_factory=dict)  # e.g. {'labels': dev-labels.lst}


class Benchmark(ABC):
    """A benchmark family: where its rows come from and how a row becomes an item."""

    name: str
    title: str
    hub_id: str
    hub_config: str | None = None
    hub_splits: tuple[str, ...]
    local_layout: str  # what --path must hold, for help texts and errors
    folder: str | None = None  # its folder in a collection of release files, when not its name

    @abstractmethod
    def local_files(self, path: Path, split: str | None = None) -> list[LocalFile]:
        """The release files under `path` (a file or a folder), each with its split.

        `split` is the split the user asked for; only sources whose file names do not say the
        split (declarative specs) use it.
        """

    @abstractmethod
    def read_local(self, file: LocalFile) -> Iterator[SourceRow]:
        """Rows of one release file, in file order, already in the hub dataset's row shape."""

    def read_hub(self, split: str, dataset_id: str | None = None, revision: str | None = None) -> Iterator[SourceRow]:
        """Rows of one split from the hub (or a local folder laid out like the hub dataset)."""
        return hub_rows(self.name, dataset_id or self.hub_id, self.hub_config, split, revision)

    def from_local(self, raw: Any) -> Mapping[str, Any]:
        """A release-file row in the hub dataset's row shape (identity where they agree)."""
        return raw

    @abstractmethod
    def to_item(self, doc: Mapping[str, Any], row: SourceRow) -> Item:
        """Build the item from a hub-shaped row; raise RowError naming what is wrong."""

    def folder_in(self, collection: Path) -> Path:
        """Where this benchmark's release files sit in a folder holding one subfolder per benchmark."""
        return collection / (self.folder or self.name)

    def describe(self) -> str:
        """One line for `likra benchmarks`."""
        config = f" ({self.hub_config})" if self.hub_config else ""
        return f"{self.title}; hub {self.hub_id}{config}; local: {self.local_layout}"


# ---------------------------------------------------------------------------------------------
# Reading rows from the Hugging Face hub


_TRUE = {"1", "on", "yes", "true"}


def hub_unreachable(timeout: float = 3.0) -> str | None:
    """Why the hub cannot be reached (one quick connection, no retries), or None when it can, is set offline
    ($HF_HUB_OFFLINE: the cache answers) or sits behind a proxy this check cannot see through."""
    if any(os.environ.get(name, "").strip().lower() in _TRUE for name in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE")):
        return None
    if any(os.environ.get(name) for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY")):
        return None
    endpoint = urlsplit(os.environ.get("HF_ENDPOINT") or "https://huggingface.co")
    port = endpoint.port or (443 if endpoint.scheme == "https" else 80)
    try:
        socket.create_connection((endpoint.hostname or "", port), timeout=timeout).close()
    except OSError as exc:
        return f"{endpoint.hostname}:{port} does not answer ({exc.strerror or exc})"
    return None


def hub_rows(
    benchmark: str, dataset_id: str, config: str | None, split: str, revision: str | None = None, **dataset_kwargs: Any
) -> Iterator[SourceRow]:
    """Rows of one split through `datasets.load_dataset` (a hub id, or a local folder laid out like one)."""
    if not Path(dataset_id).expanduser().exists():
        problem = hub_unreachable()  # else datasets retries for half a minute before it says the same
        if problem is not None:
            raise WarehouseError(
                f"{benchmark}: cannot load hub dataset {dataset_id!r}: the hub is not reachable "
                f"({problem}). Without network access, pass --path with the benchmark's release "
                "files, or set HF_HUB_OFFLINE=1 to use datasets already in the cache."
            )
    import datasets

    try:
        dataset = datasets.load_dataset(dataset_id, config, split=split, revision=revision, **dataset_kwargs)
    except Exception as exc:  # datasets raises many types; all mean "this dataset/split is not loadable"
        raise WarehouseError(
            f"{benchmark}: cannot load hub dataset {dataset_id!r}"
            f"{f' config {config!r}' if config else ''} split {split!r}: {exc}. "
            "Without network access, pass --path with the benchmark's release files."
        ) from exc
    provenance = f"hf:{dataset_id}{f'/{config}' if config else ''}@{revision or 'default'}#{dataset._fingerprint}"
    for position, doc in enumerate(dataset):
        yield SourceRow(
            split=split, origin=dataset_id, provenance=provenance, ref=f"row {position}", position=position, doc=doc
        )


# ---------------------------------------------------------------------------------------------
# Helpers adapters use to turn a row into an item


def get(doc: Mapping[str, Any], *path: str) -> Any:
    """doc[path[0]][path[1]]...; a missing field is a RowError naming the dotted path."""
    value: Any = doc
    for depth, key in enumerate(path):
        if not isinstance(value, Mapping) or key not in value or value[key] is None:
            raise RowError(f"missing field {'.'.join(path[: depth + 1])!r}")
        value = value[key]
    return value


def index_of(answer: Any, labels: list[Any], what: str = "answer") -> int:
    """Position of `answer` among `labels` (compared as stripped strings)."""
    wanted = str(answer).strip()
    names = [str(label).strip() for label in labels]
    if wanted not in names:
        raise RowError(f"{what} {wanted!r} is not one of the choice labels {', '.join(names)}")
    return names.index(wanted)


def as_index(answer: Any, n_choices: int, *, base: int = 0, what: str = "answer") -> int:
    """An integer answer key (0- or 1-based, int or digit string) as a 0-based index in range."""
    text = str(answer).strip()
    if not re.fullmatch(r"-?\d+", text):
        raise RowError(f"{what} {text!r} is not an integer index" if text else f"{what} is empty")
    index = int(text) - base
    if not 0 <= index < n_choices:
        raise RowError(f"{what} {text!r} is out of range for {n_choices} choices")
    return index


def labelled_choices(doc: Mapping[str, Any]) -> tuple[list[str], int]:
    """Texts of `choices` and the index of `answerKey` among `choices.label` (letters or digits), as AI2 stores them."""
    texts = list(get(doc, "choices", "text"))
    gold = index_of(get(doc, "answerKey"), list(get(doc, "choices", "label")), "answerKey")
    return texts, gold


def question_choices_from_local(raw: Mapping[str, Any], stem_key: str) -> dict[str, Any]:
    """AI2 release rows nest `question.stem` and `question.choices[]`; the hub flattens them."""
    choices = get(raw, "question", "choices")
    return {
        "id": get(raw, "id"),
        stem_key: get(raw, "question", "stem"),
        "choices": {"text": [c.get("text") for c in choices], "label": [c.get("label") for c in choices]},
        "answerKey": get(raw, "answerKey"),
    }
