"""Click options generated from a pydantic settings model: the flag, type, choices, default and help of
each option come from the model's field, so a default is written only once."""

from __future__ import annotations

import types
import typing
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

import click
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from pipelines.errors import OptionError
from warehouse.validation import checked_value


class Checked(click.ParamType):
    """A value ruled by a pydantic type (finite, in range), as the settings models rule theirs; a bad one is one
    `error:` line naming the option. `comma`: a comma-separated list of such values."""

    def __init__(self, annotation: Any, name: str, *, comma: bool = False):
        self.annotation = list[annotation] if comma else annotation
        self.comma = comma
        self.name = name

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        raw = value
        if self.comma and isinstance(value, str):
            raw = [part.strip() for part in value.split(",") if part.strip()]
        option = param.opts[0] if param is not None and param.opts else self.name
        return checked_value(self.annotation, raw, option, OptionError, shown=repr(value))


class CommaList(click.ParamType):
    """A comma-separated list of numbers: `--sizes 8,16,32`."""

    def __init__(self, item: type):
        self.item = item
        self.name = f"{item.__name__},..."

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> list:
        if isinstance(value, list):
            return value
        try:
            return [self.item(part) for part in str(value).split(",") if part.strip()]
        except ValueError:
            self.fail(f"{value!r} is not a comma-separated list of {self.item.__name__} values", param, ctx)


def _field(model: type[BaseModel], path: str) -> tuple[FieldInfo, Any]:
    """The field at a dotted path and its default."""
    default: Any = model()
    info: FieldInfo | None = None
    for part in path.split("."):
        info = type(default).model_fields[part]
        default = getattr(default, part)
    assert info is not None
    return info, default


def _bounds(info: FieldInfo) -> dict[str, Any]:
    bounds: dict[str, Any] = {}
    for rule in info.metadata:
        for name, key in (("ge", "min"), ("gt", "min"), ("le", "max"), ("lt", "max")):
            if getattr(rule, name, None) is not None:
                bounds[key] = getattr(rule, name)
                if name in ("gt", "lt"):
                    bounds[f"{key}_open"] = True
    return bounds


def _click_type(info: FieldInfo) -> tuple[Any, bool]:
    """(click type, multiple) for a field's annotation."""
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
        return CommaList(str if typing.get_origin(item) is Literal else item), False
    if annotation in (int, float):
        bounds = _bounds(info)
        if not bounds:
            return annotation, False
        return (click.IntRange if annotation is int else click.FloatRange)(**bounds), False
    return str, False


def config_options(model: type[BaseModel], flags: Mapping[str, str | Sequence[str]]) -> Callable:
    """A decorator adding one option per field path in `flags` (e.g. {"tiers.near_miss_margin":
    "--near-miss-margin"}); the command receives them as `path__with__underscores` keyword arguments."""

    def decorate(command: Callable) -> Callable:
        for path, declared in reversed(list(flags.items())):
            info, default = _field(model, path)
            kind, multiple = _click_type(info)
            names = [declared] if isinstance(declared, str) else list(declared)
            help_text = info.description or ""
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
    """The keyword arguments `config_options` produced, as a nested dict for the model (empty repeats dropped)."""
    nested: dict[str, Any] = {}
    for key, value in options.items():
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
