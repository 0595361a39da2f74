"""Ingest every benchmark sample in ../shared/data/benchmarks into a fresh warehouse and time it.

Prints, per benchmark, the time to parse and build items (collect) and the time of the one
transactional write, then the totals; and, for comparison, what the same rows cost when inserted
one statement per row (the pattern this toolkit avoids).

    python bench/ingest_samples.py [--samples DIR]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from warehouse.db import connect
from warehouse.ingest import collect, write
from warehouse.sources import builtin_benchmarks

DEFAULT_SAMPLES = Path(__file__).resolve().parents[2] / "shared" / "data" / "benchmarks"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=Path, default=DEFAULT_SAMPLES)
    args = parser.parse_args()
    benchmarks = builtin_benchmarks()
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bench.duckdb"
        total_parse = total_write = 0.0
        total_items = 0
        frames = []
        print(f"{'benchmark':16} {'items':>7} {'parse s':>8} {'write s':>8}")
        started = time.perf_counter()
        with connect(db) as con:
            for name, benchmark in benchmarks.items():
                path = None if name == "demo" else benchmark.folder_in(args.samples)
                t0 = time.perf_counter()
                collected = collect(benchmark, path=path)
                t1 = time.perf_counter()
                write(con, collected)
                t2 = time.perf_counter()
                total_parse, total_write = total_parse + t1 - t0, total_write + t2 - t1
                total_items += collected.items.height
                frames.append(collected.items)
                print(f"{name:16} {collected.items.height:7d} {t1 - t0:8.3f} {t2 - t1:8.3f}")
        wall = time.perf_counter() - started
        print(f"{'total':16} {total_items:7d} {total_parse:8.3f} {total_write:8.3f}")
        print(
            f"wall time {wall:.2f} s, {total_items / wall:,.0f} items/s; writes are "
            f"{100 * total_write / (total_parse + total_write):.0f}% of the work"
        )

        # Peer pattern: the same rows, one INSERT statement each.
        rows = [row for frame in frames for row in frame.iter_rows()]
        with connect(Path(tmp) / "rowwise.duckdb") as con:
            con.execute("CREATE TABLE items_rowwise AS SELECT * FROM items LIMIT 0")
            t0 = time.perf_counter()
            con.execute("BEGIN")
            placeholders = ", ".join("?" * len(frames[0].columns))
            for row in rows:
                con.execute(f"INSERT INTO items_rowwise VALUES ({placeholders})", list(row))
            con.execute("COMMIT")
            rowwise = time.perf_counter() - t0
        print(
            f"row-by-row INSERT of the same {len(rows)} rows: {rowwise:.2f} s; "
            f"batched Arrow writes are {rowwise / total_write:.0f}x faster"
        )


if __name__ == "__main__":
    main()
