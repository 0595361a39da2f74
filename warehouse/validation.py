"""Settings models validated with one error that names every wrong key."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from warehouse.errors import LikraError

Model = TypeVar("Model", bound=BaseModel)


def validated(model: type[Model], values: dict[str, Any], what: str, error: type[LikraError]) -> Model:
    """`model(**values)`, or `error` naming each key that is wrong and why ("what: key: message; ...")."""
    try:
        return model(**values)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'config'}: {e['msg']}" for e in exc.errors())
        raise error(f"{what}: {problems}") from exc
