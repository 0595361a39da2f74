"""Click options generated from a pydantic settings model: the flag, type, choices, default and help of
each option come from the model's field, so a default is written only once."""

from __future__ import annotations

import re
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from typing import Annotated, Any, Literal

import click
from pydantic import BaseModel, Field
from pydantic.fields import FieldInfo

from pipelines.errors import OptionError
from warehouse.validation import checked_value

DB_HELP = (
    "Warehouse: a DuckDB file, or ducklake:<catalog> (docs/scaling-out.md); "
    "default: $LIKRA_DB, else data/warehouse.duckdb."
)
FORMATS = ("table", "csv", "json")


def db_option(help: str = DB_HELP) -> Callable:
    """The `--db` option every command shares: the warehouse to read or write."""
    return click.option("--db", type=click.Path(dir_okay=False), help=help)


def format_option(command: Callable) -> Callable:
    """The `--format` option of the commands that print rows (table, csv, json)."""
    return click.option(
        "--format",
        "fmt",
        type=click.Choice(FORMATS),
        default="table",
        show_default=True,
        help="table: aligned columns; csv: nested values as JSON; json: one record per row.",
    )(command)


class Checked(click.ParamType):
    """A value ruled by a pydantic type (finite, in range), as the settings models rule theirs; a bad one is one
    `error:` line naming the option. `comma`: the annotation is a list, given as comma-separated values."""

    def __init__(self, annotation: Any, name: str, *, comma: bool = False):
        self.annotation = annotation
        self.comma = comma
        self.name = name

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        raw = value
        if self.comma and isinstance(value, str):
            raw = [part.strip() for part in value.split(",") if part.strip()]
        option = param.opts[0] if param is not None and param.opts else self.name
        return checked_value(self.annotation, raw, option, OptionError, shown=repr(value))


class CommaList(click.ParamType):
    """A comma-separated list of words: `--policies random,first` (the settings model checks each)."""

    name = "WORD,..."

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> list:
        if isinstance(value, list):
            return value
        return [part.strip() for part in str(value).split(",") if part.strip()]


def _field(model: type[BaseModel], path: str) -> tuple[FieldInfo, Any]:
    """The field at a dotted path and its default."""
    default: Any = model()
    info: FieldInfo | None = None
    for part in path.split("."):
        info = type(default).model_fields[part]
        default = getattr(default, part)
    assert info is not None
    return info, default


def _finite(annotation: Any) -> Any:
    """A number annotation that refuses NaN and infinities, as every settings model does (`SETTINGS`)."""
    return Annotated[float, Field(allow_inf_nan=False)] if annotation is float else annotation


def _ruled(annotation: Any, info: FieldInfo) -> Any:
    """The annotation with the field's own rules (bounds, lengths), so an option is checked like the field."""
    return Annotated[annotation, *info.metadata] if info.metadata else annotation


def _click_type(info: FieldInfo) -> tuple[Any, bool]:
    """(click type, multiple) for a field's annotation; numbers are checked by the field's own rules."""
    annotation = info.annotation
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if typing.get_origin(annotation) in (typing.Union, types.UnionType) and len(args) == 1:
        annotation = args[0]
    if annotation is bool:
        return bool, False  # declared as "--on/--off"
    if typing.get_origin(annotation) is Literal:
        return click.Choice([str(v) for v in typing.get_args(annotation)]), False
    if typing.get_origin(annotation) is list:
        item = typing.get_args(annotation)[0]
        if item is str:
            return str, True
        if typing.get_origin(item) is Literal:
            return CommaList(), False
        return Checked(_ruled(list[_finite(item)], info), f"{item.__name__.upper()},...", comma=True), False
    if annotation in (int, float):
        return Checked(_ruled(_finite(annotation), info), annotation.__name__.upper()), False
    return str, False


def config_options(
    model: type[BaseModel], flags: Mapping[str, str | Sequence[str]], *, unset: str | None = None
) -> Callable:
    """A decorator adding one option per field path in `flags` (e.g. {"tiers.near_miss_margin":
    "--near-miss-margin"}); the command receives them as `path__with__underscores` keyword arguments.

    `unset`: the options default to None (left out of `config_values`) and their help ends with this text
    instead of the model's default, for commands that change only what is given (`likra evaluate RUN`)."""

    def decorate(command: Callable) -> Callable:
        for path, declared in reversed(list(flags.items())):
            info, default = _field(model, path)
            kind, multiple = _click_type(info)
            names = [declared] if isinstance(declared, str) else list(declared)
            help_text = info.description or ""
            if unset is not None:
                help_text = re.sub(r" \(default: [^()]*(\([^()]*\)[^()]*)*\)", "", help_text)  # the model's default
                command = click.option(
                    *names, path.replace(".", "__"), type=kind, multiple=multiple, help=f"{help_text} {unset}"
                )(command)
                continue
            if multiple:
                command = click.option(*names, path.replace(".", "__"), type=kind, multiple=True, help=help_text)(
                    command
                )
            else:
                # A list default reads best as the comma list the option takes.
                shown: str | bool = ",".join(map(str, default)) if isinstance(default, list) else default is not None
                command = click.option(
                    *names, path.replace(".", "__"), type=kind, default=default, show_default=shown, help=help_text
                )(command)
        return command

    return decorate


def config_values(options: Mapping[str, Any]) -> dict[str, Any]:
    """The keyword arguments `config_options` produced, as a nested dict for the model (empty repeats and unset
    options dropped)."""
    nested: dict[str, Any] = {}
    for key, value in options.items():
        if value is None:
            continue
        if isinstance(value, tuple):
            if not value:
                continue
            value = list(value)
        *parents, leaf = key.split("__")
        target = nested
        for parent in parents:
            target = target.setdefault(parent, {})
        target[leaf] = value
    return nested
