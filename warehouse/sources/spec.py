"""Any other multiple-choice file, described by a YAML spec with lm-evaluation-harness task-file keys.

    task: my_quiz                      # becomes items.benchmark
    dataset_path: json                 # json | csv | parquet | a hub dataset id
    dataset_kwargs: {data_files: {test: quiz.jsonl}}
    test_split: test
    doc_to_text: "Question: {{question}}\\nAnswer:"
    doc_to_choice: "{{choices}}"
    doc_to_target: "{{answer}}"        # an index, or the answer text itself
    labels_file: quiz-labels.lst       # optional: one label per row, available as `label`

Templates are Jinja in a bounded sandbox (`templates.py`), rendered with the row's fields (and the
whole row as `doc`). Local json, csv and parquet files are read row by row here, so one malformed
line becomes a reject instead of failing the load; hub ids go through `datasets.load_dataset` with
`dataset_name` and `dataset_kwargs`.
"""

from __future__ import annotations

import ast
import copy
import difflib
import re
from collections.abc import Iterator, Mapping
from functools import cached_property
from pathlib import Path
from typing import Any

import yaml
from jinja2 import TemplateError
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from warehouse.errors import RowError, SourceFormatError, SpecError, one_line
from warehouse.items import Item
from warehouse.sources.base import Benchmark, LocalFile, SourceRow, hub_rows
from warehouse.sources.files import (
    attach_labels,
    check_regular_file,
    format_of,
    read_csv,
    read_json_file,
    read_parquet,
    read_text,
)
from warehouse.sources.templates import MAX_TEXT, BoundedSandbox, TemplateLimitError, render_bounded

LOCAL_FORMATS = ("json", "csv", "parquet")
# A hub dataset id: `name` or `owner/name` (letters, digits, '-', '_', '.').
HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*(/[A-Za-z0-9][\w.-]*)?")

# lm-eval task-file keys a spec may carry but that do not affect what is ingested.
IGNORED_KEYS = {
    "output_type",
    "metric_list",
    "metadata",
    "should_decontaminate",
    "num_fewshot",
    "fewshot_split",
    "fewshot_config",
    "fewshot_delimiter",
    "tag",
    "group",
    "dataset_name_alias",
}


class BenchmarkSpec(BaseModel):
    """The keys a spec file may hold (lm-eval names, plus `labels_file`)."""

    model_config = ConfigDict(extra="forbid")

    task: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    dataset_path: str
    dataset_name: str | None = None
    dataset_kwargs: dict[str, Any] = Field(default_factory=dict)
    test_split: str | None = None
    validation_split: str | None = None
    training_split: str | None = None
    doc_to_text: str
    doc_to_choice: str | list[str]
    doc_to_target: str | int
    target_delimiter: str = " "
    description: str | None = None
    doc_to_decontamination_query: str | None = None  # lm-eval's bare query text: stored as items.question
    labels_file: str | dict[str, str] | None = None

    @property
    def splits(self) -> list[str]:
        """Declared splits, evaluation split first."""
        named = [self.test_split, self.validation_split, self.training_split]
        return [s for s in named if s] or ["test"]

    @property
    def is_local(self) -> bool:
        return self.dataset_path in LOCAL_FORMATS


def _format_validation_error(exc: ValidationError, origin: str) -> str:
    problems = []
    for error in exc.errors():
        key = ".".join(str(part) for part in error["loc"]) or "(top level)"
        if error["type"] == "extra_forbidden":
            close = difflib.get_close_matches(key, list(BenchmarkSpec.model_fields), n=1)
            problems.append(f"unknown key {key!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
        elif error["type"] == "missing":
            problems.append(f"missing required key {key!r}")
        else:
            problems.append(f"key {key!r}: {error['msg']}")
    return f"spec {origin}: " + "; ".join(problems)


def parse_spec(text: str, origin: str) -> BenchmarkSpec:
    """Validate spec YAML text; every problem is named by its key."""
    try:
        raw = yaml.safe_load(text)
    except yaml.constructor.ConstructorError as exc:
        raise SpecError(
            f"spec {origin}: {exc.problem} at line {exc.problem_mark.line + 1 if exc.problem_mark else '?'}; "
            "specs cannot run Python (`!function`): write the field as a Jinja template"
        ) from exc
    except yaml.YAMLError as exc:
        raise SpecError(f"spec {origin}: not valid YAML ({exc})") from exc
    if not isinstance(raw, dict):
        raise SpecError(f"spec {origin}: expected a mapping of keys, found {type(raw).__name__}")
    output_type = raw.get("output_type", "multiple_choice")
    if output_type != "multiple_choice":
        raise SpecError(f"spec {origin}: key 'output_type' is {output_type!r}; only multiple_choice is ingested")
    kept = {k: v for k, v in raw.items() if k not in IGNORED_KEYS}
    try:
        return BenchmarkSpec.model_validate(kept)
    except ValidationError as exc:
        raise SpecError(_format_validation_error(exc, origin)) from exc


def load_spec(path: Path) -> SpecBenchmark:
    """A benchmark from a spec file; relative paths in it are resolved against its folder."""
    if not path.is_file():
        raise SpecError(f"spec {path}: no such file")
    text = read_text(path)
    return SpecBenchmark(parse_spec(text, str(path)), path.resolve().parent, yaml_text=text)


def as_text(value: Any, what: str) -> str:
    """A field as text: numbers and text as they read; a null or bytes (a Parquet NULL, a binary column) is this
    row's error instead of the text 'None' or "b'...'"."""
    if value is None:
        raise RowError(f"{what} is null")
    if isinstance(value, (bytes, bytearray, memoryview)):
        raise RowError(f"{what} is bytes, not text")
    return str(value)


def check_distinct_choices(choices: list[str]) -> None:
    """Raise RowError when two choices of a spec's row are the same text (up to spacing): a tie no score can
    break, which acc would count right by tie-break. (Built-in benchmarks keep lm-eval's items as published.)"""
    first_seen: dict[str, int] = {}
    for index, choice in enumerate(choices):
        same = first_seen.setdefault(" ".join(choice.split()), index)
        if same != index:
            raise RowError(
                f"choices {same} and {index} are identical ({choice.strip()[:60]!r}): a tie no score can break"
            )


def _datasets_builders() -> frozenset[str]:
    """The builders `datasets` ships (json, text, arrow, imagefolder, ...): names a spec may not use as hub ids."""
    from datasets.packaged_modules import _PACKAGED_DATASETS_MODULES

    return frozenset(_PACKAGED_DATASETS_MODULES)


def _regex_replace(text: str, pattern: str, replacement: str) -> str:
    size = len(text)

    def expand(match: re.Match) -> str:
        nonlocal size  # an empty pattern matches everywhere: bound the text as it grows
        new = match.expand(replacement)
        size += len(new) - len(match.group(0))
        if size > MAX_TEXT:
            raise TemplateLimitError(f"regex_replace would make more than {MAX_TEXT:,} characters")
        return new

    return re.sub(pattern, expand, text)


class SpecBenchmark(Benchmark):
    """A benchmark defined by a spec instead of code."""

    local_layout = "the files named by the spec's dataset_kwargs.data_files, or --path"

    def __init__(self, spec: BenchmarkSpec, base_dir: Path, *, yaml_text: str | None = None):
        self.spec = spec
        self.base_dir = base_dir
        self.name = spec.task
        self.title = f"{spec.task} (spec)"
        self.hub_id = spec.dataset_path
        self.hub_config = spec.dataset_name
        self.hub_splits = tuple(spec.splits)
        self.yaml_text = (
            yaml_text if yaml_text is not None else yaml.safe_dump(spec.model_dump(exclude_none=True), sort_keys=False)
        )
        env = BoundedSandbox(keep_trailing_newline=True)
        env.add_filter("regex_replace", _regex_replace)
        self._env = env

    def describe(self) -> str:
        where = "local files" if self.spec.is_local else f"hub {self.spec.dataset_path}"
        return f"{self.title}; {where}; splits {', '.join(self.spec.splits)}"

    @cached_property
    def _templates(self) -> dict[str, Any]:
        compiled = {}
        for key in ("doc_to_text", "doc_to_choice", "doc_to_target", "doc_to_decontamination_query"):
            value = getattr(self.spec, key)
            if isinstance(value, str):
                try:
                    compiled[key] = self._env.from_string(value)
                except TemplateError as exc:
                    raise SpecError(f"spec {self.name}: key {key!r} is not a valid Jinja template ({exc})") from exc
        return compiled

    # -- files ---------------------------------------------------------------------------------

    allow_outside_files = False  # spec-named files must sit in the spec's folder unless the user says otherwise

    def with_outside_files(self) -> SpecBenchmark:
        """This benchmark, allowed to read files its spec names outside the spec's folder."""
        allowed = copy.copy(self)
        allowed.allow_outside_files = True
        return allowed

    def _resolve(self, name: str, what: str) -> Path:
        path = Path(name).expanduser()
        path = path if path.is_absolute() else self.base_dir / path
        # A spec may come from anywhere: without consent it must not turn other local files into items.
        if not self.allow_outside_files and not path.resolve().is_relative_to(self.base_dir.resolve()):
            raise SpecError(
                f"spec {self.name}: {what} {name} is outside the spec's folder {self.base_dir} "
                "(symbolic links resolved); move it there, or pass --allow-outside-files"
            )
        return path

    def _declared_files(self) -> dict[str, list[Path]]:
        data_files = self.spec.dataset_kwargs.get("data_files")
        if data_files is None:
            raise SpecError(
                f"spec {self.name}: key 'dataset_kwargs.data_files' is required for "
                f"dataset_path {self.spec.dataset_path!r} when no --path is given"
            )
        if isinstance(data_files, (str, list)):
            data_files = {self.spec.splits[0]: data_files}
        if not isinstance(data_files, dict):
            raise SpecError(
                f"spec {self.name}: key 'dataset_kwargs.data_files' must be a path, a list or a mapping split -> path"
            )
        return {
            split: [self._resolve(f, "data file") for f in ([files] if isinstance(files, str) else files)]
            for split, files in data_files.items()
        }

    def _labels_for(self, split: str) -> Path | None:
        labels = self.spec.labels_file
        if isinstance(labels, dict):
            labels = labels.get(split)
        return self._resolve(labels, "labels file") if labels else None

    def local_files(self, path: Path | None, split: str | None = None) -> list[LocalFile]:
        if path is not None and path.is_dir():
            raise SourceFormatError(
                f"{self.name}: --path {path} is a folder; a spec benchmark reads one file per split"
            )
        if path is not None:
            chosen = split or self.spec.splits[0]
            files = {chosen: [path]}
        else:
            files = self._declared_files()
        found = []
        for file_split, paths in files.items():
            for file in paths:
                check_regular_file(file, f"{self.name}: data file")
                labels = self._labels_for(file_split)
                if labels is not None:
                    check_regular_file(labels, f"{self.name}: labels file")
                found.append(LocalFile(file_split, file, extras={"labels": labels} if labels else {}))
        return found

    def read_local(self, file: LocalFile) -> Iterator[SourceRow]:
        fmt = self.spec.dataset_path if self.spec.is_local else format_of(file.path)
        if fmt == "json":
            rows = read_json_file(file)
        elif fmt == "csv":
            columns = self.spec.dataset_kwargs.get("column_names")
            rows = read_csv(file, header=columns is None, columns=columns)
        else:
            rows = read_parquet(file)
        labels = file.extras.get("labels")
        return attach_labels(rows, labels, "label") if labels else rows

    def dataset_source(self) -> str:
        """What a spec that names no local format reads: a hub dataset id, or a folder laid out like one inside
        the spec's folder. Every other `datasets` builder (text, arrow, imagefolder, ...) is refused, and so are
        dataset_kwargs, which could name any file on the machine."""
        name = self.spec.dataset_path
        from_cwd = Path(name).expanduser()
        looks_local = name.startswith((".", "/", "~")) or (self.base_dir / name).exists() or from_cwd.exists()
        if looks_local:
            folder = self._resolve(name, "dataset folder")
            if not folder.is_dir():
                raise SpecError(
                    f"spec {self.name}: dataset_path {name} is not a folder in the spec's folder "
                    f"{self.base_dir}; give json, csv or parquet with dataset_kwargs.data_files, "
                    "or a hub dataset id"
                )
            source = str(folder.resolve())  # datasets would resolve a relative path against the cwd
        elif name.lower() in _datasets_builders() or not HUB_ID.fullmatch(name):
            raise SpecError(
                f"spec {self.name}: dataset_path {name!r} is not supported: give json, csv or "
                "parquet (local files named in dataset_kwargs.data_files) or a hub dataset id"
            )
        else:
            source = name
        if self.spec.dataset_kwargs:
            raise SpecError(
                f"spec {self.name}: dataset_kwargs ({', '.join(sorted(self.spec.dataset_kwargs))}) apply "
                f"only to local json, csv and parquet files, not to dataset_path {name!r}; remove them"
            )
        return source

    def read_hub(self, split: str, dataset_id: str | None = None, revision: str | None = None) -> Iterator[SourceRow]:
        if self.spec.is_local and dataset_id is None:
            raise SourceFormatError(
                f"{self.name}: dataset_path {self.spec.dataset_path!r} reads local files; "
                "name them in dataset_kwargs.data_files or pass --path"
            )
        # --hub is the user's own choice; the spec's kwargs (data_files of local files) never go to the hub.
        source = dataset_id or self.dataset_source()
        if dataset_id is None and Path(source).is_dir() and not self.allow_outside_files:
            self._check_dataset_folder(Path(source))
        return hub_rows(self.name, source, self.spec.dataset_name, split, revision)

    def _check_dataset_folder(self, folder: Path) -> None:
        """Refuse a hub-layout folder whose files `datasets` would read from elsewhere (a symbolic link, a README
        `data_files` path or URL) or through another builder than json, csv and parquet (`.txt` is read as text)."""
        import tempfile

        import datasets

        try:
            with tempfile.TemporaryDirectory() as scratch:  # only a lock file is written: not into the user's cache
                builder = datasets.load_dataset_builder(str(folder), self.spec.dataset_name, cache_dir=scratch)
        except Exception as exc:  # datasets raises many types; all mean "no dataset is laid out here"
            raise SpecError(f"spec {self.name}: dataset folder {folder} is not a dataset: {one_line(exc)}") from exc
        if builder.name not in LOCAL_FORMATS:
            raise SpecError(
                f"spec {self.name}: dataset folder {folder} holds {builder.name} files; a spec reads json, csv or "
                "parquet files"
            )
        for files in (builder.config.data_files or {}).values():
            for file in files:
                if "://" in str(file):
                    raise SpecError(
                        f"spec {self.name}: dataset folder {folder} names the URL {file}; a spec reads "
                        "only files in its own folder"
                    )
                self._resolve(str(file), "data file of the dataset folder")

    # -- rows to items -------------------------------------------------------------------------

    def _render(self, key: str, doc: Mapping[str, Any]) -> str:
        try:
            return render_bounded(self._templates[key], {**doc, "doc": doc})
        except TemplateError as exc:
            raise RowError(f"{key}: {exc}") from exc
        except Exception as exc:  # a template is user code: any failure of it is this row's, named by its key
            raise RowError(f"{key}: {type(exc).__name__}: {exc}") from exc

    def _choices(self, doc: Mapping[str, Any]) -> list[str]:
        value = self.spec.doc_to_choice
        if isinstance(value, list):
            return [str(v) for v in value]
        if value in doc:
            found = doc[value]
        else:
            rendered = self._render("doc_to_choice", doc)
            try:
                found = ast.literal_eval(rendered)
            except (ValueError, SyntaxError) as exc:
                raise RowError(f"doc_to_choice rendered {rendered[:80]!r}, which is not a list") from exc
        if not isinstance(found, (list, tuple)):
            raise RowError(f"doc_to_choice gave {type(found).__name__}, expected a list of answer texts")
        return [as_text(choice, f"choice {index}") for index, choice in enumerate(found)]

    def _target(self, doc: Mapping[str, Any], choices: list[str]) -> int:
        value = self.spec.doc_to_target
        if isinstance(value, int):
            target: Any = value
        elif value in doc:
            target = doc[value]
        else:
            target = self._render("doc_to_target", doc)
        text = str(target).strip()
        if isinstance(target, int) or text.isdigit():
            index = int(text)
            if not 0 <= index < len(choices):
                raise RowError(f"doc_to_target gave index {index}, out of range for {len(choices)} choices")
            return index
        if text not in [c.strip() for c in choices]:
            raise RowError(f"doc_to_target gave {text[:80]!r}, which is neither an index nor one of the choices")
        return [c.strip() for c in choices].index(text)

    def to_item(self, doc: Mapping[str, Any], row: SourceRow) -> Item:
        text = self.spec.doc_to_text
        prompt = as_text(doc[text], "doc_to_text") if text in doc else self._render("doc_to_text", doc)
        choices = self._choices(doc)
        check_distinct_choices(choices)
        stripped = prompt.rstrip()
        # lm-eval moves a context's trailing whitespace onto the continuation; keep the scored text equal.
        delimiter = prompt[len(stripped) :] + self.spec.target_delimiter
        source_id = doc.get("id", doc.get("qID", row.position))
        query = self.spec.doc_to_decontamination_query
        question = (
            None
            if query is None
            else str(doc[query])
            if query in doc
            else self._render("doc_to_decontamination_query", doc)
        )
        return Item(
            source_id=str(source_id),
            prompt=stripped,
            choices=choices,
            gold=self._target(doc, choices),
            description=self.spec.description,
            target_delimiter=delimiter,
            question=question,
        )
