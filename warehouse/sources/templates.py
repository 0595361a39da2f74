"""Jinja for spec templates, sandboxed and bounded: a template cannot read outside its row, and
cannot build huge text or loop without end.

jinja2's sandbox already blocks unsafe attributes; what it leaves open is size and work
(`{{ 'x' * 10**9 }}`, `{% for i in range(10**8) %}`). Every operation that can make a value much
larger than its inputs (`*`, `**`, `+`, `%`, `~`, padding, replace, join, format widths) is sized
before it runs, every value a call returns is checked, the rendered text is capped, and operations
(calls, lookups, operators, range items) are counted against a per-render budget.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from contextvars import ContextVar
from functools import wraps
from typing import Any

from jinja2 import StrictUndefined, Template
from jinja2.compiler import CodeGenerator
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment

MAX_TEXT = 1_000_000  # characters a rendered template, or any value it builds, may hold
MAX_STEPS = 1_000_000  # operations (calls, lookups, operators, range items) per render

_steps: ContextVar[list[int] | None] = ContextVar("template_steps", default=None)


class TemplateLimitError(SecurityError):
    """A template that would build too much text or do too much work for one row."""


def _charge(steps: int = 1) -> None:
    counter = _steps.get()
    if counter is None:  # compile-time constant folding: bounded by the template's own size
        return
    counter[0] += steps
    if counter[0] > MAX_STEPS:
        raise TemplateLimitError(f"the template does more than {MAX_STEPS:,} operations for one row")


def _bounded(size: int, what: str) -> None:
    if size > MAX_TEXT:
        raise TemplateLimitError(f"{what} would make {size:,} characters, over the limit of {MAX_TEXT:,}")


def weight(value: Any, limit: int = MAX_TEXT) -> int:
    """About how many characters `value` prints as, counting every element of nested lists, tuples and dicts
    (`[[1]*999999]*999999` holds one list a million times, and prints as 3 TB). Counting stops once past
    `limit`, so it costs at most that many steps, and it walks without recursion, however deep the nesting."""
    total, stack = 0, [value]
    while stack and total <= limit:
        item = stack.pop()
        if isinstance(item, str):
            total += len(item) + 2
        elif isinstance(item, (list, tuple, set, frozenset)):
            total += 2
            stack.extend(item)
        elif isinstance(item, dict):
            total += 2
            for key, entry in item.items():
                stack.extend((key, entry))
        elif isinstance(item, int) and not isinstance(item, bool):
            total += item.bit_length() // 3 + 2  # ~ digits
        else:
            total += 8
    return total


def _checked(value: Any, what: str) -> Any:
    if isinstance(value, (str, list, tuple, dict, set, frozenset)):
        _bounded(weight(value) if not isinstance(value, str) else len(value), what)
    return value


def _replace_size(text: str, old: str, new: str, count: Any = -1) -> int:
    hits = text.count(old) if old else len(text) + 1
    if isinstance(count, int) and count >= 0:
        hits = min(hits, count)
    return len(text) + hits * (len(new) - len(old))


def _spec_numbers(text: str, pattern: str) -> int:
    """Sum of the widths and precisions in a format string's fields: a bound on their padding."""
    return sum(int(n) for field in re.findall(pattern, text) for n in re.findall(r"\d+", field))


def _format_size(text: str, args: Iterable[Any], pattern: str) -> int:
    values = list(args)
    numbers = sum(abs(v) for v in values if isinstance(v, int))  # `*` widths come from the arguments
    return len(text) + _spec_numbers(text, pattern) + numbers + sum(len(str(v)) for v in values)


_PERCENT_FIELD = r"%[#0\- +*\d.]*"
_BRACE_FIELD = r"\{[^{}]*\}"


def _join_size(items: list[Any], separator: str) -> int:
    _bounded(weight(items), "join")  # before str() of any item, which could be a nested bomb itself
    return sum(len(str(item)) for item in items) + len(separator) * max(0, len(items) - 1)


def _percent(left: Any, right: Any) -> Any:
    if isinstance(left, str):
        args = right.values() if isinstance(right, Mapping) else right if isinstance(right, tuple) else [right]
        _bounded(_format_size(left, args, _PERCENT_FIELD), "'%' formatting")
    return left % right


def _times(left: Any, right: Any) -> Any:
    for seq, count in ((left, right), (right, left)):
        if isinstance(seq, (str, list, tuple)) and isinstance(count, int):
            _bounded(len(seq) * count, "'*'")
            if not isinstance(seq, str):  # a list of lists repeats every element inside too
                _bounded(weight(seq) * max(count, 0), "'*'")
    return left * right


def _power(left: Any, right: Any) -> Any:
    if isinstance(left, int) and isinstance(right, int) and right > 0:
        _bounded(right * max(1, abs(left).bit_length()) // 3, "'**'")  # ~digits of the result
    return left**right


def _plus(left: Any, right: Any) -> Any:
    if isinstance(left, (str, list, tuple)) and isinstance(right, (str, list, tuple)):
        _bounded(len(left) + len(right), "'+'")
        _bounded(weight(left) + weight(right), "'+'")
    return left + right


def _str_method_size(text: str, name: str, args: tuple, kwargs: dict) -> int | None:
    """The size a str method's result can reach, for the methods that can grow text a lot."""
    if name in ("center", "ljust", "rjust", "zfill") and args and isinstance(args[0], int):
        return max(len(text), args[0])
    if name == "expandtabs":
        tab = args[0] if args else kwargs.get("tabsize", 8)
        return len(text) + text.count("\t") * max(0, int(tab))
    if name == "replace" and len(args) >= 2:
        return _replace_size(text, str(args[0]), str(args[1]), args[2] if len(args) > 2 else kwargs.get("count", -1))
    if name in ("format", "format_map"):
        values = [*args, *kwargs.values()]
        if name == "format_map" and args and isinstance(args[0], Mapping):
            values = list(args[0].values())
        return _format_size(text, values, _BRACE_FIELD)
    return None


def _filter_size(name: str, value: Any, args: tuple, kwargs: dict) -> int | None:
    """The size a growing filter's result can reach."""
    text = str(value)
    if name == "center":
        return max(len(text), args[0] if args else kwargs.get("width", 80))
    if name == "indent":
        width = args[0] if args else kwargs.get("width", 4)
        return len(text) + (text.count("\n") + 1) * (width if isinstance(width, int) else len(str(width)))
    if name == "replace" and len(args) >= 2:
        return _replace_size(text, str(args[0]), str(args[1]), args[2] if len(args) > 2 else kwargs.get("count", -1))
    if name == "wordwrap":
        width = args[0] if args else kwargs.get("width", 79)
        wrap = args[2] if len(args) > 2 else kwargs.get("wrapstring") or "\n"
        return len(text) + (len(text) // max(1, int(width)) + 1) * len(str(wrap))
    if name == "format":
        return _format_size(text, [*args, *kwargs.values()], _PERCENT_FIELD)
    if name == "batch":
        return args[0] if args else kwargs.get("linecount", 0)
    return None


def _bounded_filter(name: str, func: Callable) -> Callable:
    """`func`, sized before it runs (for the filters that grow text) and checked after."""
    leading = 1 if getattr(func, "jinja_pass_arg", None) is not None else 0  # context/environment comes first

    @wraps(func)
    def bounded(*args: Any, **kwargs: Any) -> Any:
        _charge()
        value, rest = args[leading], args[leading + 1 :]
        if name == "join" and not isinstance(value, (str, Mapping)):
            value = list(value)  # a generator (from `map`) can only be read once: size the list instead
            separator = rest[0] if rest else kwargs.get("d", "")
            _bounded(_join_size(value, str(separator)), "join")
            args = (*args[:leading], value, *rest)
        size = _filter_size(name, value, rest, kwargs)
        if size is not None:
            _bounded(size, f"filter {name!r}")
        return _checked(func(*args, **kwargs), f"filter {name!r}")

    return bounded


def _printable(value: Any) -> Any:
    """Every `{{ value }}` is sized before it becomes text: str() of a nested list could not be stopped."""
    _checked(value, "the printed value")
    return value


class _BoundedCodeGenerator(CodeGenerator):
    def visit_Concat(self, node: Any, frame: Any) -> None:
        # `~` joins with a module-level helper jinja2 gives no hook for: route it through the environment.
        self.write("environment.bounded_concat((")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write("))")


class BoundedSandbox(ImmutableSandboxedEnvironment):
    """The immutable sandbox, with every size- or work-growing operation bounded."""

    code_generator_class = _BoundedCodeGenerator
    intercepted_binops = frozenset({"*", "**", "+", "%"})

    def __init__(self, **options: Any) -> None:
        super().__init__(undefined=StrictUndefined, finalize=_printable, **options)
        self.binop_table.update({"*": _times, "**": _power, "+": _plus, "%": _percent})
        self.globals["range"] = self._range
        self.globals.pop("lipsum", None)  # generates text by the paragraph; no use in a prompt
        self.filters = {name: _bounded_filter(name, func) for name, func in self.filters.items()}

    def add_filter(self, name: str, func: Callable) -> None:
        """Register a filter, bounded like the built-in ones."""
        self.filters[name] = _bounded_filter(name, func)

    @staticmethod
    def _range(*args: int) -> range:
        items = range(*args)
        if len(items) > MAX_STEPS:
            raise TemplateLimitError(f"range of {len(items):,} items is over the limit of {MAX_STEPS:,}")
        _charge(len(items))
        return items

    def bounded_concat(self, parts: tuple) -> str:
        """`a ~ b`, sized before it is built."""
        _charge()
        _bounded(sum(len(p) if isinstance(p, str) else weight(p) for p in parts), "'~'")  # before str() of any part
        texts = [str(part) for part in parts]
        _bounded(sum(map(len, texts)), "'~'")
        return "".join(texts)

    def call_binop(self, context: Any, operator_name: str, left: Any, right: Any) -> Any:
        _charge()
        return self.binop_table[operator_name](left, right)

    def getattr(self, obj: Any, attribute: str) -> Any:
        _charge()
        return super().getattr(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        _charge()
        return super().getitem(obj, argument)

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805 (jinja's own signature)
        _charge()
        method = getattr(__obj, "__wrapped__", __obj)  # str.format arrives wrapped by the sandbox
        owner = getattr(method, "__self__", None)
        if isinstance(owner, str):
            if method.__name__ == "join" and args and not isinstance(args[0], str):
                args = (list(args[0]), *args[1:])
                _bounded(_join_size(args[0], owner), "str.join")
            size = _str_method_size(owner, method.__name__, args, kwargs)
            if size is not None:
                _bounded(size, f"str.{method.__name__}")
        return _checked(super().call(__context, __obj, *args, **kwargs), "a call")


def render_bounded(template: Template, values: Mapping[str, Any]) -> str:
    """Render with the work budget, stopping as soon as the text passes MAX_TEXT characters."""
    token = _steps.set([0])
    try:
        parts, size = [], 0
        for part in template.generate(**values):
            size += len(part)
            if size > MAX_TEXT:
                raise TemplateLimitError(f"the rendered text is over the limit of {MAX_TEXT:,} characters")
            parts.append(part)
        return "".join(parts)
    finally:
        _steps.reset(token)
