"""Nearest-neighbour search over normalised embeddings with FAISS (inner product = cosine similarity).

Small pools get an exact flat index; large ones an approximate index (IVF or HNSW, by config). A
GPU index is used when faiss-gpu and a GPU are present. Queries run in batches, so memory grows
with the batch, never with queries x pool.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Literal

import numpy as np
from pydantic import BaseModel, Field

from mining.errors import MiningError
from warehouse.validation import SETTINGS


class IndexConfig(BaseModel):
    """Which FAISS index to build."""

    model_config = SETTINGS

    kind: Literal["auto", "flat", "ivf", "hnsw"] = Field(
        default="auto", description="FAISS index (auto: exact up to flat_max answers, IVF above)."
    )
    flat_max: int = Field(default=200_000, ge=0, description="auto: exact flat index up to this many vectors")
    approximate: Literal["ivf", "hnsw"] = Field(default="ivf", description="auto: the index above flat_max")
    nlist: int | None = Field(default=None, ge=1, description="IVF cells (default 4 x sqrt(n))")
    nprobe: int = Field(default=32, ge=1, description="IVF cells searched per query")
    hnsw_m: int = Field(default=32, ge=2, description="HNSW neighbours per node")
    ef_search: int = Field(default=128, ge=1, description="HNSW search breadth")
    use_gpu: bool | None = Field(default=None, description="None: use a GPU when faiss-gpu finds one")
    query_batch: int = Field(default=8192, ge=1, description="queries searched per batch")


def _gpu_count() -> int:
    import faiss

    return faiss.get_num_gpus() if hasattr(faiss, "get_num_gpus") else 0


def build_index(vectors: np.ndarray, config: IndexConfig | None = None):
    """An inner-product index over the (already L2-normalised) vectors."""
    import faiss

    config = config or IndexConfig()
    n, dim = vectors.shape
    if n == 0:
        raise MiningError("cannot search an empty pool of answers")
    kind = config.kind
    if kind == "auto":
        kind = "flat" if n <= config.flat_max else config.approximate
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    if kind == "flat":
        index = faiss.IndexFlatIP(dim)
    elif kind == "hnsw":
        index = faiss.IndexHNSWFlat(dim, config.hnsw_m, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efSearch = config.ef_search
    else:
        nlist = config.nlist or max(1, min(n // 39, int(4 * np.sqrt(n))))  # FAISS wants ~39 points per cell
        index = faiss.IndexIVFFlat(faiss.IndexFlatIP(dim), dim, nlist, faiss.METRIC_INNER_PRODUCT)
        sample = vectors[
            np.random.default_rng(0).choice(n, size=min(n, nlist * 64), replace=False)
        ]  # 64 points per cell train k-means well
        index.train(sample)
        index.nprobe = min(config.nprobe, nlist)
    use_gpu = config.use_gpu if config.use_gpu is not None else _gpu_count() > 0
    if use_gpu and kind != "hnsw":  # FAISS has no GPU HNSW
        index = faiss.index_cpu_to_all_gpus(index)
    index.add(vectors)
    return index


def search(index, queries: np.ndarray, k: int, batch: int = 8192) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    """(offset, scores, ids) per batch of queries: the k best neighbours of each, best first (-1: none)."""
    queries = np.ascontiguousarray(queries, dtype=np.float32)
    k = min(k, index.ntotal)
    for start in range(0, len(queries), batch):
        scores, ids = index.search(queries[start : start + batch], k)
        yield start, scores, ids
