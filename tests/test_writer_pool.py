"""The writer pool by backend: one writing step at a time on a DuckDB file, concurrent writers on DuckLake, the
limit stored in the Dagster instance by `likra warehouse pool`."""

from __future__ import annotations

import shutil
from pathlib import Path

import dagster as dg
import pytest
from click.testing import CliRunner

from pipelines.cli import main
from pipelines.defs.pools import current_writer_pool_limit, writer_pool_limit
from warehouse.errors import WarehouseError

REPO = Path(__file__).resolve().parents[1]
PG = "ducklake:postgres:dbname=lake host=db user=likra"


@pytest.mark.parametrize(
    ("db", "limit"), [("data/warehouse.duckdb", 1), ("ducklake:team.ducklake", 1), ("ducklake:team.sqlite", 2), (PG, 4)]
)
def test_default_limit_by_backend(db: str, limit: int) -> None:
    assert writer_pool_limit(db) == limit


def test_limit_from_the_environment_and_the_argument(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LIKRA_WRITER_POOL_LIMIT", "8")
    assert writer_pool_limit(PG) == 8
    assert writer_pool_limit(PG, 2) == 2
    monkeypatch.setenv("LIKRA_DB", PG)
    assert writer_pool_limit() == 8


@pytest.mark.parametrize("db", ["data/warehouse.duckdb", "ducklake:team.ducklake"])
def test_one_writer_backends_refuse_more(db: str) -> None:
    with pytest.raises(WarehouseError, match="one writer process at a time"):
        writer_pool_limit(db, 2)


def test_cli_sets_the_instance_pool(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "home"
    home.mkdir()
    shutil.copy(REPO / "dagster.yaml", home / "dagster.yaml")  # the embedded instance: default limit 1
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    with dg.DagsterInstance.get() as instance:
        assert current_writer_pool_limit(instance) == 1

    result = CliRunner().invoke(main, ["warehouse", "pool", "--db", f"{PG}?data_path={tmp_path}"])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == f"pool warehouse_writer: 4 writing steps at once, for {PG}"
    with dg.DagsterInstance.get() as instance:
        assert current_writer_pool_limit(instance) == 4

    refused = CliRunner().invoke(main, ["warehouse", "pool", "--db", "data/warehouse.duckdb", "--limit", "3"])
    assert refused.exit_code == 1 and "one writer process at a time" in refused.output
    assert CliRunner().invoke(main, ["warehouse", "pool", "--db", "data/warehouse.duckdb"]).exit_code == 0
    with dg.DagsterInstance.get() as instance:
        assert current_writer_pool_limit(instance) == 1
