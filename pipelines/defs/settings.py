"""Typed settings for Dagster, generated from the libraries' own models so each default is written once.

`dagster_config` turns a pydantic settings model (e.g. `MiningConfig`) into a Dagster `Config` (or
`ConfigurableResource`) class with the same fields, descriptions and defaults, nested models nested;
the Launchpad shows them, and the run's values convert back to the library model.
"""

from __future__ import annotations

import os
import typing
from pathlib import Path
from typing import Any, Literal

import dagster as dg
import yaml
from pydantic import BaseModel, Field, create_model

from likra.config import TrainConfig, train_config
from likra.scoring.config import ScoringConfig
from mining.config import MiningConfig, mining_config
from pipelines.errors import SettingsFileError

MINING_CONFIG_ENV = "LIKRA_MINING_CONFIG"
LIKRA_CONFIG_ENV = "LIKRA_TRAIN_CONFIG"


def _dagster_type(annotation: Any) -> Any:
    """The annotation Dagster's config understands: a list of literals becomes a list of strings (the library
    model still validates the values)."""
    if typing.get_origin(annotation) is list and typing.get_origin(typing.get_args(annotation)[0]) is Literal:
        return list[str]
    return annotation


def dagster_config(
    model: type[BaseModel], defaults: BaseModel, base: type = dg.Config, name: str | None = None
) -> type:
    """A Dagster config class mirroring `model`, with the values of `defaults` as its defaults."""
    fields: dict[str, Any] = {}
    for field_name, info in model.model_fields.items():
        annotation, default = info.annotation, getattr(defaults, field_name)
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            nested = dagster_config(annotation, default, dg.Config, f"{name or model.__name__}{annotation.__name__}")
            fields[field_name] = (nested, Field(default=nested(**default.model_dump()), description=info.description))
        else:
            fields[field_name] = (_dagster_type(annotation), Field(default=default, description=info.description))
    return create_model(name or model.__name__, __base__=base, __doc__=model.__doc__, **fields)


def yaml_settings(variable: str) -> dict:
    """The settings in the YAML file an environment variable names ({} when it names none)."""
    path = os.environ.get(variable)
    if not path:
        return {}
    try:
        return yaml.safe_load(Path(path).read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise SettingsFileError(f"${variable} names {path}, which is not a readable YAML file: {exc}") from exc


def mining_defaults() -> MiningConfig:
    """The mining settings runs start from: the YAML file named by $LIKRA_MINING_CONFIG, else the built-in defaults."""
    return mining_config(**yaml_settings(MINING_CONFIG_ENV))


def likra_defaults() -> TrainConfig:
    """The Likra settings runs start from: the YAML file named by $LIKRA_TRAIN_CONFIG, else the built-in defaults."""
    return train_config(**yaml_settings(LIKRA_CONFIG_ENV))


MINING_DEFAULTS = mining_defaults()
CHUNK_ITEMS_HELP = (
    "Fan out: items per chunk, each chunk a step of its own (on its own worker under Celery or "
    "Kubernetes); the rows are those of one step. Default: one chunk."
)


class _MiningSettingsBase(dg.ConfigurableResource):
    chunk_items: int | None = Field(default=None, ge=1, description=f"Plausibility grading ({CHUNK_ITEMS_HELP})")

    def mining_config(self) -> MiningConfig:
        """The run's settings as the mining library's typed, validated config."""
        return mining_config(**self.model_dump(exclude={"chunk_items"}))


MiningSettings = dagster_config(MiningConfig, MINING_DEFAULTS, _MiningSettingsBase, "MiningSettings")
MiningSettings.__doc__ = (
    "Mining settings shared by the mining assets of a run: candidates, filters, plausibility "
    "model and tier rules. Defaults: $LIKRA_MINING_CONFIG (YAML) or the built-in ones."
)

LIKRA_DEFAULTS = likra_defaults()


class _LikraSettingsBase(dg.ConfigurableResource):
    def train_config(self) -> TrainConfig:
        """The run's settings as the Likra library's typed, validated config."""
        return train_config(**self.model_dump())


LikraSettings = dagster_config(TrainConfig, LIKRA_DEFAULTS, _LikraSettingsBase, "LikraSettings")
LikraSettings.__doc__ = (
    "Likra settings shared by the Likra assets of a run: policy, sizes, seed, learning rate, "
    "LoRA, evaluation. Defaults: $LIKRA_TRAIN_CONFIG (YAML) or the built-in ones."
)


class _ChunkedScoringBase(dg.Config):
    chunk_items: int | None = Field(default=None, ge=1, description=f"Scoring ({CHUNK_ITEMS_HELP})")


BaseScoresConfig = dagster_config(ScoringConfig, ScoringConfig(), _ChunkedScoringBase, "BaseScoresConfig")


def scoring_config(config: dg.Config) -> ScoringConfig:
    """A run's scoring settings as the library's typed config (the fan-out setting is the pipeline's own)."""
    return ScoringConfig(**config.model_dump(exclude={"chunk_items"}))
