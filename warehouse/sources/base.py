"""What every benchmark source shares: rows read from files or the hub, and the helpers adapters use to
turn a row into an `Item`."""

from __future__ import annotations

import hashlib
import re
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from warehouse.errors import RowError, SourceFormatError, WarehouseError
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
# Finding and reading release files


def match_files(path: Path, patterns: Mapping[str, str], benchmark: str, layout: str) -> list[tuple[Path, re.Match, str]]:
    """Files under `path` whose name fully matches one of `patterns` (regex -> split), sorted by path."""
    if not path.exists():
        raise SourceFormatError(f"{benchmark}: path {path} does not exist")
    candidates = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    found = []
    for candidate in candidates:
        for pattern, split in patterns.items():
            match = re.fullmatch(pattern, candidate.name)
            if match:
                found.append((candidate, match, split))
                break
    if not found:
        what = "file" if path.is_file() else "folder"
        raise SourceFormatError(
            f"{benchmark}: {what} {path} holds no release file this benchmark knows; expected {layout}"
        )
    return found


def file_provenance(path: Path) -> str:
    """`<file name>@sha256:<first 16 hex digits>`: names the file and pins its content."""
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return f"{path.name}@sha256:{digest[:16]}"


def read_text(path: Path) -> str:
    """A whole file as text, without a UTF-8 byte-order mark; a file that is not UTF-8 is a format error naming it."""
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SourceFormatError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from exc


def read_rows_text(path: Path) -> str:
    """A release file as text, without a byte-order mark and with \\n line ends, for readers of rows.

    Bytes that are not UTF-8 are kept as lone surrogates (`surrogateescape`), so that a reader can
    reject just the line holding them (see `undecodable`) and keep the others.
    """
    text = path.read_bytes().decode("utf-8-sig", errors="surrogateescape")
    return text.replace("\r\n", "\n").replace("\r", "\n")


_UNDECODABLE = re.compile("[\udc80-\udcff]")


def undecodable(text: str, *, column: bool = True) -> str | None:
    """Why text from `read_rows_text` is not UTF-8 ('byte 0xff at column 7'), or None when it is."""
    bad = _UNDECODABLE.search(text)
    if bad is None:
        return None
    where = f" at column {bad.start() + 1}" if column else ""
    return f"not UTF-8 text (byte 0x{ord(bad.group()) - 0xDC00:02x}{where})"


def entry_undecodable(entry: Any) -> str | None:
    """Why an entry of a JSON array read by `read_rows_text` is not UTF-8 text, or None."""
    import json

    return undecodable(json.dumps(entry, ensure_ascii=False), column=False)


def json_problem(exc: Any, *, line: bool = False) -> str:
    """json's message and where, worded once ('Unterminated string starting at column 5')."""
    where = f"line {exc.lineno} column {exc.colno}" if line else f"column {exc.colno}"
    return f"{exc.msg} {where}" if exc.msg.endswith(" at") else f"{exc.msg} at {where}"


def read_jsonl(file: LocalFile) -> Iterator[SourceRow]:
    """Rows of a JSON-lines file; a line that is not a JSON object becomes an error row."""
    import json

    provenance = file_provenance(file.path)
    position = 0
    # Split on \n only: JSON strings may hold U+2028 and other characters str.splitlines() breaks at.
    for line_no, line in enumerate(read_rows_text(file.path).split("\n"), start=1):
        if not line.strip():
            continue
        common = dict(split=file.split, origin=file.path.name, provenance=provenance,
                      ref=f"line {line_no}", position=position, subset=file.subset)
        position += 1
        problem = undecodable(line)
        if problem:
            yield SourceRow(**common, error=problem)
            continue
        try:
            doc = json.loads(line)
        except json.JSONDecodeError as exc:
            yield SourceRow(**common, error=f"invalid JSON ({json_problem(exc)})")
            continue
        if not isinstance(doc, dict):
            yield SourceRow(**common, error=f"expected a JSON object, found {type(doc).__name__}")
            continue
        yield SourceRow(**common, doc=doc)


def read_csv(file: LocalFile, *, header: bool, columns: list[str] | None = None) -> Iterator[SourceRow]:
    """Rows of a CSV file as dicts (named by the header or by `columns`); fields may span lines."""
    import csv
    import io

    provenance = file_provenance(file.path)
    reader = csv.reader(io.StringIO(read_rows_text(file.path), newline=""))
    names = columns
    if header:
        try:
            names = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise SourceFormatError(f"{file.path}: unreadable CSV header ({exc})") from exc
    position = 0
    last_line = reader.line_num
    while True:
        error = None
        try:
            record = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:  # e.g. a field over csv's size limit: the reader goes on at the next line
            record, error = [], f"unreadable CSV ({exc})"
        first, last_line = last_line + 1, reader.line_num
        if not error and not any(cell.strip() for cell in record):
            continue
        lines = f"line {first}" if first == last_line else f"lines {first}-{last_line}"
        common = dict(split=file.split, origin=file.path.name, provenance=provenance,
                      ref=f"record {position + 1} ({lines})", position=position, subset=file.subset)
        position += 1
        if error:
            yield SourceRow(**common, error=error)
            continue
        if names is not None and len(record) != len(names):
            yield SourceRow(**common, error=f"expected {len(names)} fields, found {len(record)}")
            continue
        problem = next((f"field {k + 1}: {undecodable(cell)}" for k, cell in enumerate(record) if undecodable(cell)), None)
        if problem:
            yield SourceRow(**common, error=problem)
            continue
        yield SourceRow(**common, doc=dict(zip(names, record)) if names else record)


def attach_labels(rows: Iterable[SourceRow], labels_path: Path, key: str) -> Iterator[SourceRow]:
    """Give each row the label on the same line of a labels file; unmatched lines become error rows."""
    labels = read_rows_text(labels_path).split("\n")
    if labels and not labels[-1]:
        labels.pop()  # the newline that ends the last line starts no line
    count = 0
    for index, row in enumerate(rows):
        count = index + 1
        if index >= len(labels):
            yield _with_error(row, f"no label: {labels_path.name} has only {len(labels)} lines")
        elif row.doc is None:
            yield row
        elif undecodable(labels[index]):
            yield _with_error(row, f"label on line {index + 1} of {labels_path.name}: {undecodable(labels[index])}")
        else:
            yield SourceRow(**{**row.__dict__, "doc": {**row.doc, key: labels[index].strip()}})
    for extra in range(count, len(labels)):
        yield SourceRow(split="?", origin=labels_path.name, provenance="", ref=f"line {extra + 1}",
                        position=extra, error=f"label with no matching row ({count} rows in the data file)")


def _with_error(row: SourceRow, error: str) -> SourceRow:
    return SourceRow(**{**row.__dict__, "doc": None, "error": error})


# ---------------------------------------------------------------------------------------------
# Reading rows from the Hugging Face hub


def hub_rows(benchmark: str, dataset_id: str, config: str | None, split: str,
             revision: str | None = None, **dataset_kwargs: Any) -> Iterator[SourceRow]:
    """Rows of one split through `datasets.load_dataset` (a hub id, or a local folder laid out like one)."""
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
        yield SourceRow(split=split, origin=dataset_id, provenance=provenance,
                        ref=f"row {position}", position=position, doc=doc)


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
    """Texts of `choices` and the index of `answerKey` among `choices.label` (letters or digits), as AI2 releases store them."""
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


def with_labels_file(benchmark: str, data: Path, split: str, stem: str) -> LocalFile:
    """A data file and the `<stem>-labels.lst` beside it, which its rows need."""
    labels = data.with_name(f"{stem}-labels.lst")
    if not labels.exists():
        raise SourceFormatError(f"{benchmark}: {data} needs its labels file {labels.name} beside it")
    return LocalFile(split, data, extras={"labels": labels})
