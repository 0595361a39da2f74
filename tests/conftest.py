"""Shared fixtures: the benchmark samples beside the repository and a fresh warehouse per test."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

SHARED = Path(os.environ.get("LIKRA_SHARED", Path(__file__).resolve().parents[2] / "shared"))
BENCHMARKS = SHARED / "data" / "benchmarks"


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
    monkeypatch.chdir(tmp_path)
