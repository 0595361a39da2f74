"""Model keys come from a model's files, never from loading it; converted models live in one cache per user."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from conftest import MODEL_CACHE

from likra import models
from likra.config import TrainConfig
from likra.models import ModelLoadError, load_model, model_cache_dir, model_key
from likra.workflow import base_model_key

COMMIT = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture()
def hub_cache(tmp_path: Path, tiny_model: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The tiny Llama as the hub cache holds `likra-test/tiny` at one commit (`main` pointing at it), offline."""
    root = tmp_path / "hub"
    repo = root / "models--likra-test--tiny"
    shutil.copytree(tiny_model, repo / "snapshots" / COMMIT)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(COMMIT)
    monkeypatch.setenv("HF_HUB_CACHE", str(root))
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(root))
    return root


def test_a_hub_model_is_keyed_by_its_commit_without_loading_it(hub_cache: Path, monkeypatch) -> None:
    loaded = load_model("likra-test/tiny")

    def refuse(*args, **kwargs):
        raise AssertionError("the model was loaded to learn its key")

    monkeypatch.setattr("transformers.AutoModelForCausalLM.from_pretrained", refuse)
    key = model_key("likra-test/tiny")
    assert key == loaded.key == f"likra-test/tiny@{COMMIT}/fp32"
    assert base_model_key(TrainConfig(model="likra-test/tiny")) == key
    assert model_key("likra-test/tiny", revision="main") == key  # a branch keys by the commit it points at


def test_a_hub_model_missing_offline_is_one_error_naming_it(hub_cache: Path) -> None:
    with pytest.raises(ModelLoadError, match="cannot find model 'likra-test/absent' on the hub or in its cache"):
        model_key("likra-test/absent")


def test_the_model_cache_is_the_users_unless_set(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LIKRA_MODEL_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert model_cache_dir() == tmp_path / "xdg" / "likra" / "models"
    monkeypatch.setenv("LIKRA_MODEL_CACHE", str(tmp_path / "mine"))
    assert model_cache_dir() == tmp_path / "mine"


@pytest.mark.slow
def test_a_second_folder_uses_the_converted_model_without_converting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture
) -> None:
    monkeypatch.delenv("LIKRA_MODEL_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    conversions = []
    convert = models._convert
    monkeypatch.setattr(models, "_convert", lambda *args: (conversions.append(args[1]), convert(*args)))
    for folder in ("team-a", "team-b"):
        (tmp_path / folder).mkdir()
        monkeypatch.chdir(tmp_path / folder)
        monkeypatch.setenv("LIKRA_DB", str(tmp_path / folder / "warehouse.duckdb"))
        key = model_key("smollm2")

    assert conversions == [tmp_path / "xdg" / "likra" / "models" / "smollm2-135m-instruct"]
    assert key.startswith("smollm2-135m-instruct@gguf-sha256:")
    said = [r.getMessage() for r in caplog.records if r.name == "likra.models"]
    assert len(said) == 1 and said[0].startswith("converting SmolLM2-135M-Instruct.Q4_1.gguf to a plain model in")
    assert "de-quantizing" not in capfd.readouterr().err  # no progress bar when stderr is no terminal
    assert not any((tmp_path / folder / "data").exists() for folder in ("team-a", "team-b"))
    assert MODEL_CACHE not in conversions[0].parents
