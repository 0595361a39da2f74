"""Release files of benchmark sources: finding them, naming their content, and reading their rows (JSON lines,
CSV, labels files) with a BOM, CRLF line ends and undecodable lines handled row by row."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from warehouse.errors import SourceFormatError, one_line
from warehouse.sources.base import LocalFile, SourceRow


def match_files(
    path: Path, patterns: Mapping[str, str], benchmark: str, layout: str
) -> list[tuple[Path, re.Match, str]]:
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


def check_regular_file(path: Path, what: str = "file") -> None:
    """Refuse a folder, pipe, device or socket where a file to read is expected, and a missing file."""
    if path.is_dir():
        raise SourceFormatError(f"{what} {path} is a folder, not a file")
    if not path.exists():
        raise SourceFormatError(f"{what} {path} does not exist")
    if not path.is_file():
        raise SourceFormatError(f"{what} {path} is not a regular file (a pipe, device or socket)")


def read_release_bytes(path: Path, what: str = "file") -> bytes:
    """A release file's bytes, read once; a folder, pipe, device or unreadable file is a format error naming it
    (a pipe could block forever)."""
    check_regular_file(path, what)
    try:
        return path.read_bytes()
    except OSError as exc:
        raise SourceFormatError(f"{what} {path} cannot be read: {exc.strerror or exc}") from exc


def provenance_of(path: Path, data: bytes) -> str:
    """`<file name>@sha256:<first 16 hex digits>` of the bytes the rows were read from: the file, pinned."""
    return f"{path.name}@sha256:{hashlib.sha256(data).hexdigest()[:16]}"


def file_provenance(path: Path) -> str:
    """`<file name>@sha256:<first 16 hex digits>`: names the file and pins its content."""
    return provenance_of(path, read_release_bytes(path))


def read_release(path: Path, what: str = "file") -> tuple[str, str]:
    """(text as `read_rows_text` gives it, provenance) from one read: the hash is of the bytes the rows come from,
    even when the file is replaced while it is ingested."""
    data = read_release_bytes(path, what)
    return _rows_text(data), provenance_of(path, data)


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
    return _rows_text(read_release_bytes(path))


def _rows_text(data: bytes) -> str:
    text = data.decode("utf-8-sig", errors="surrogateescape")
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


def _lines(text: str) -> Iterator[str]:
    """The lines of `text` split at \\n only, one at a time (a list of millions of lines would not be)."""
    start = 0
    while start <= len(text):
        end = text.find("\n", start)
        end = len(text) if end < 0 else end
        yield text[start:end]
        start = end + 1


def parse_json(text: str) -> Any:
    """json.loads, with what json raises besides JSONDecodeError (too deep, a number too long) as a ValueError
    whose message says so; a JSONDecodeError is raised as it is."""
    import json

    try:
        return json.loads(text)
    except json.JSONDecodeError:
        raise
    except RecursionError as exc:
        raise ValueError("nested too deeply to read") from exc
    except ValueError as exc:  # e.g. an integer of more than 4,300 digits
        raise ValueError(one_line(exc, 120)) from exc


def _placed(file: LocalFile, provenance: str, ref: str, position: int) -> dict[str, Any]:
    """Where a row of a release file stands: the `SourceRow` fields every row of the file's reader fills."""
    return dict(
        split=file.split, origin=file.path.name, provenance=provenance, ref=ref, position=position, subset=file.subset
    )


def read_jsonl(file: LocalFile, release: tuple[str, str] | None = None) -> Iterator[SourceRow]:
    """Rows of a JSON-lines file; a line that is not a JSON object becomes an error row."""
    import json

    text, provenance = release or read_release(file.path)
    position = 0
    # Split on \n only: JSON strings may hold U+2028 and other characters str.splitlines() breaks at.
    for line_no, line in enumerate(_lines(text), start=1):
        if not line.strip():
            continue
        common = _placed(file, provenance, f"line {line_no}", position)
        position += 1
        problem = undecodable(line)
        if problem:
            yield SourceRow(**common, error=problem)
            continue
        try:
            doc = parse_json(line)
        except json.JSONDecodeError as exc:
            yield SourceRow(**common, error=f"invalid JSON ({json_problem(exc)})")
            continue
        except ValueError as exc:
            yield SourceRow(**common, error=f"invalid JSON ({exc})")
            continue
        if not isinstance(doc, dict):
            yield SourceRow(**common, error=f"expected a JSON object, found {type(doc).__name__}")
            continue
        yield SourceRow(**common, doc=doc)


def read_csv(file: LocalFile, *, header: bool, columns: list[str] | None = None) -> Iterator[SourceRow]:
    """Rows of a CSV file as dicts (named by the header or by `columns`); fields may span lines."""
    import csv
    import io

    text, provenance = read_release(file.path)
    reader = csv.reader(io.StringIO(text, newline=""))
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
        common = _placed(file, provenance, f"record {position + 1} ({lines})", position)
        position += 1
        if error:
            yield SourceRow(**common, error=error)
            continue
        if names is not None and len(record) != len(names):
            yield SourceRow(**common, error=f"expected {len(names)} fields, found {len(record)}")
            continue
        problem = next(
            (f"field {k + 1}: {undecodable(cell)}" for k, cell in enumerate(record) if undecodable(cell)), None
        )
        if problem:
            yield SourceRow(**common, error=problem)
            continue
        yield SourceRow(**common, doc=dict(zip(names, record)) if names else record)


def attach_labels(rows: Iterable[SourceRow], labels_path: Path, key: str) -> Iterator[SourceRow]:
    """Give each row the label on the same line of a labels file; unmatched lines become error rows."""
    labels = _rows_text(read_release_bytes(labels_path, "labels file")).split("\n")
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
        yield SourceRow(
            split="?",
            origin=labels_path.name,
            provenance="",
            ref=f"line {extra + 1}",
            position=extra,
            error=f"label with no matching row ({count} rows in the data file)",
        )


def _with_error(row: SourceRow, error: str) -> SourceRow:
    return SourceRow(**{**row.__dict__, "doc": None, "error": error})


def with_labels_file(benchmark: str, data: Path, split: str, stem: str) -> LocalFile:
    """A data file and the `<stem>-labels.lst` beside it, which its rows need."""
    labels = data.with_name(f"{stem}-labels.lst")
    if not labels.exists():
        raise SourceFormatError(f"{benchmark}: {data} needs its labels file {labels.name} beside it")
    check_regular_file(labels, f"{benchmark}: labels file")
    return LocalFile(split, data, extras={"labels": labels})


def format_of(path: Path) -> str:
    """The `datasets` builder a data file's suffix calls for: json (also for unknown suffixes), csv or parquet."""
    suffix = path.suffix.lower()
    return {".jsonl": "json", ".json": "json", ".csv": "csv", ".parquet": "parquet"}.get(suffix, "json")


def read_json_file(file: LocalFile) -> Iterator[SourceRow]:
    """JSON lines, or a JSON array of objects (as datasets' json builder accepts both)."""
    import json

    text, provenance = read_release(file.path)
    if not text.lstrip().startswith("["):
        yield from read_jsonl(file, (text, provenance))
        return
    try:
        entries = parse_json(text)
    except json.JSONDecodeError as exc:
        raise SourceFormatError(f"{file.path}: not valid JSON ({json_problem(exc, line=True)})") from exc
    except ValueError as exc:
        raise SourceFormatError(f"{file.path}: not valid JSON ({exc})") from exc
    for position, entry in enumerate(entries):
        error = "expected a JSON object" if not isinstance(entry, dict) else entry_undecodable(entry)
        yield SourceRow(
            split=file.split,
            origin=file.path.name,
            provenance=provenance,
            ref=f"entry {position}",
            position=position,
            doc=None if error else entry,
            error=error,
        )


def read_parquet(file: LocalFile) -> Iterator[SourceRow]:
    """Rows of a Parquet file."""
    import io

    import polars as pl

    data = read_release_bytes(file.path)
    try:
        frame = pl.read_parquet(io.BytesIO(data))
    except Exception as exc:  # polars raises several error types for a file that is not parquet
        raise SourceFormatError(f"{file.path}: not a readable parquet file ({one_line(exc)})") from exc
    provenance = provenance_of(file.path, data)
    for position, doc in enumerate(frame.iter_rows(named=True)):
        yield SourceRow(
            split=file.split,
            origin=file.path.name,
            provenance=provenance,
            ref=f"row {position}",
            position=position,
            doc=doc,
        )
