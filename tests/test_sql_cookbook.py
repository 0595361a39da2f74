"""Every query of docs/sql-cookbook.md runs on a demo warehouse and returns rows."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from warehouse.sql import run_query

COOKBOOK = Path(__file__).resolve().parents[1] / "docs" / "sql-cookbook.md"
QUERIES = re.findall(r"^## (.+?)\n.*?```sql\n(.*?)```", COOKBOOK.read_text(), re.S | re.M)


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo set ingested, scored, mined and trained on with a tiny model."""
    from tiny_models import save_tiny_model

    from likra.config import TrainConfig
    from likra.scoring.run import score_benchmark
    from likra.workflow import train_benchmark
    from mining.config import MiningConfig
    from mining.run import mine_benchmark
    from warehouse.ingest import ingest

    folder = tmp_path_factory.mktemp("cookbook")
    model, db = str(save_tiny_model(folder / "tiny-llama")), folder / "warehouse.duckdb"
    ingest("demo", db=db)
    score_benchmark("demo", db=db, model=model)
    mine_benchmark("demo", db=db, config=MiningConfig(scorer_model=model, k=5))
    train_benchmark("demo", TrainConfig(model=model, sizes=[4, 8], batch_size=4), db=db)
    return db


def test_the_cookbook_has_at_least_six_queries() -> None:
    assert len(QUERIES) >= 6


@pytest.mark.slow
@pytest.mark.parametrize(("title", "query"), QUERIES, ids=[title for title, _ in QUERIES])
def test_each_cookbook_query_runs_and_finds_rows(warehouse: Path, title: str, query: str) -> None:
    assert run_query(query, warehouse).height > 0, title
