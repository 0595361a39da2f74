"""Numbers from environment variables, read when they are used (never at import): one reader, one rule.

A variable that is unset or empty takes its default; one that is not a finite number of the right kind, or is
below its minimum, is a one-line error naming the variable and what it takes."""

from __future__ import annotations

import math
import os

from warehouse.errors import LikraError


class SettingError(LikraError):
    """An environment variable holding something other than the number it takes."""


def env_number(name: str, default: float, *, minimum: float = 0, integer: bool = False) -> float:
    """The value of $name as a number >= minimum (an integer when `integer`), else `default` when unset."""
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    kind = "a whole number" if integer else "a number"
    try:
        value = int(text) if integer else float(text)
    except ValueError:
        value = None
    if value is None or not math.isfinite(value) or value < minimum:
        raise SettingError(
            f"${name} is {text[:40]!r}: it takes {kind} of at least {minimum:g}; "
            f"set it to one, or unset it for the default {default:g}"
        )
    return value


def env_int(name: str, default: int, *, minimum: int = 0) -> int:
    """The value of $name as a whole number >= minimum, else `default` when unset."""
    return int(env_number(name, default, minimum=minimum, integer=True))
