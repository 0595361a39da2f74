"""Scale run of the search and filter stages on synthetic vectors: a pool of 1,000,000 answers,
100,000 queries, top-50, with the approximate (IVF) index, streamed in query batches.

Prints build and search times and peak memory; the dense query x pool similarity matrix the
search avoids would need queries x pool x 4 bytes.

    python bench/mining_scale.py [--pool 1000000] [--queries 100000] [--k 50] [--dim 384]
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np

from mining.search import IndexConfig, build_index, search
from mining.select import select_hits


def unit_rows(rng: np.random.Generator, n: int, dim: int, block: int = 100_000) -> np.ndarray:
    out = np.empty((n, dim), dtype=np.float32)
    for start in range(0, n, block):
        part = rng.standard_normal((min(block, n - start), dim), dtype=np.float32)
        out[start : start + len(part)] = part / np.linalg.norm(part, axis=1, keepdims=True)
    return out


def peak_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pool", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=100_000)
    parser.add_argument("--k", type=int, default=50)
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--batch", type=int, default=4096)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    pool = unit_rows(rng, args.pool, args.dim)
    # Queries near pool members (as gold answers are), so neighbours and the paraphrase filter have work.
    anchors = rng.choice(args.pool, size=args.queries, replace=False)
    queries = pool[anchors] + 0.3 * unit_rows(rng, args.queries, args.dim)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    print(
        f"pool {args.pool:,} x {args.dim}, queries {args.queries:,}, top-{args.k}; "
        f"vectors take {(pool.nbytes + queries.nbytes) / 1024**3:.2f} GB; peak so far {peak_gb():.2f} GB"
    )

    config = IndexConfig(kind="ivf", nprobe=16)
    started = time.perf_counter()
    index = build_index(pool, config)
    built = time.perf_counter() - started
    print(f"IVF index ({index.nlist} cells, nprobe {index.nprobe}) built in {built:.1f} s; peak {peak_gb():.2f} GB")

    started = time.perf_counter()
    kept = too_similar = 0
    own = anchors[:, None].astype(np.int64)  # each query's own answer is excluded, as an item's own choices are
    for offset, scores, ids in search(index, queries, args.k + 1, args.batch):
        rows = slice(offset, offset + len(ids))
        chosen = select_hits(ids, scores, own[rows], own[rows], np.zeros((len(ids), 1), dtype=bool), 0.95, args.k)
        kept += int(chosen.keep.sum())
        too_similar += chosen.too_similar
    searched = time.perf_counter() - started
    dense_gb = args.queries * args.pool * 4 / 1024**3
    print(
        f"search + filter: {searched:.1f} s ({args.queries / searched:,.0f} queries/s); kept {kept:,} candidates, "
        f"{too_similar:,} above the similarity ceiling"
    )
    print(f"peak memory {peak_gb():.2f} GB (a dense query x pool similarity matrix would need {dense_gb:,.0f} GB)")


if __name__ == "__main__":
    main()
