"""Settings models validated with one error that names every wrong key."""

from __future__ import annotations

from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from warehouse.errors import LikraError

Model = TypeVar("Model", bound=BaseModel)

# Every settings model's rules: unknown keys refused, values fixed once made, and no NaN or infinity in any number
# (a NaN compares false with every bound, so it would pass them all).
SETTINGS = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


def validated(model: type[Model], values: dict[str, Any], what: str, error: type[LikraError]) -> Model:
    """`model(**values)`, or `error` naming each key that is wrong and why ("what: key: message; ...")."""
    try:
        return model(**values)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'config'}: {e['msg']}" for e in exc.errors())
        raise error(f"{what}: {problems}") from exc


# Numbers of options outside the settings models, ruled the same way.
FiniteFloat = Annotated[float, Field(allow_inf_nan=False)]
Seconds = Annotated[float, Field(ge=0, allow_inf_nan=False)]
Count = Annotated[int, Field(ge=0)]


def checked_value(annotation: Any, value: Any, what: str, error: type[LikraError], shown: str | None = None) -> Any:
    """`value` validated as `annotation` (e.g. `Seconds`), or `error` naming `what`, the value as given and why."""
    try:
        return TypeAdapter(annotation).validate_python(value)
    except ValidationError as exc:
        problem = exc.errors()[0]
        where = "".join(f" (item {part + 1})" if isinstance(part, int) else f" ({part})" for part in problem["loc"])
        raise error(f"{what} {shown if shown is not None else repr(value)}{where}: {problem['msg'].lower()}") from exc
