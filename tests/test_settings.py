"""Settings are stated once: CLI options and Dagster config are generated from the libraries' models."""

from __future__ import annotations

import click
import dagster as dg
import pytest
from click.testing import CliRunner
from pydantic import ValidationError

from likra.scoring.config import ScoringConfig
from mining.config import MiningConfig
from mining.errors import MiningConfigError
from pipelines.cli import main
from pipelines.cli.mining_commands import MINE_FLAGS
from pipelines.cli.options import config_values
from pipelines.cli.scoring_commands import SCORE_FLAGS
from pipelines.defs.settings import BaseScoresConfig, MiningSettings, dagster_config, scoring_config


def field_default(model: type, path: str):
    value = model()
    for part in path.split("."):
        value = getattr(value, part)
    return value


@pytest.mark.parametrize(
    ("command", "model", "flags"), [("mine", MiningConfig, MINE_FLAGS), ("score", ScoringConfig, SCORE_FLAGS)]
)
def test_cli_options_take_their_defaults_and_help_from_the_model(command: str, model: type, flags: dict) -> None:
    options = {p.name: p for p in main.commands[command].params if isinstance(p, click.Option)}
    assert len(flags) > 5  # the loop below checks the command's generated flags, not none
    for path in flags:
        option = options[path.replace(".", "__")]
        expected = field_default(model, path)
        if option.multiple:  # a repeatable flag: absent means the model's empty default
            assert expected in (None, [])
        else:
            assert option.default == expected
        assert option.help  # the field's description


def test_cli_help_shows_the_model_defaults() -> None:
    text = CliRunner().invoke(main, ["mine", "--help"], terminal_width=200).output
    assert "--near-miss-margin FLOAT" in text and "[default: -0.5]" in text
    assert "[benchmark|all]" in text and "Mine answers of the same benchmark or of every ingested benchmark." in text


def test_cli_values_nest_and_reach_the_model() -> None:
    values = config_values({"k": 3, "index__kind": "flat", "tiers__near_miss_margin": 0.2, "splits": ()})
    assert values == {"k": 3, "index": {"kind": "flat"}, "tiers": {"near_miss_margin": 0.2}}
    assert MiningConfig(**values).tiers.near_miss_margin == 0.2


def test_a_bad_cli_value_is_one_line_naming_the_setting(db) -> None:
    result = CliRunner().invoke(main, ["mine", "demo", "--near-miss-margin", "-3", "--db", str(db)])
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        "error: mining configuration: tiers: Value error, near_miss_margin (-3.0) is below plausible_margin (-1.5): "
        "a near miss must be at least as plausible as a plausible negative"
    ]


def test_dagster_config_mirrors_the_model_and_converts_back() -> None:
    generated = dagster_config(MiningConfig, MiningConfig(k=7))
    assert issubclass(generated, dg.Config)
    assert set(generated.model_fields) == set(MiningConfig.model_fields)
    assert generated().k == 7 and generated.model_fields["k"].description == MiningConfig.model_fields["k"].description
    assert MiningConfig(**generated(tiers={"near_miss_margin": 0.0}).model_dump()).tiers.near_miss_margin == 0.0
    # The scoring step's config adds only the pipeline's fan-out setting, which the library config never sees.
    assert set(BaseScoresConfig.model_fields) == set(ScoringConfig.model_fields) | {"chunk_items"}
    assert scoring_config(BaseScoresConfig(chunk_items=5, limit=3)) == ScoringConfig(limit=3)


def test_the_fan_out_setting_stays_out_of_the_mining_config() -> None:
    assert MiningSettings(chunk_items=5, k=4).mining_config() == MiningConfig(k=4)
    with pytest.raises(ValidationError, match=r"chunk_items\s+Input should be greater than or equal to 1"):
        MiningSettings(chunk_items=0)


def test_mining_settings_resource_validates_into_the_library_config() -> None:
    assert MiningSettings().mining_config() == MiningConfig()
    assert MiningSettings(k=4).mining_config().k == 4
    with pytest.raises(MiningConfigError, match="max_sim_to_gold"):
        MiningSettings(max_sim_to_gold=2.0).mining_config()
