"""A folder of Parquet parts waiting to be written to the warehouse.

Heavy pipeline steps (embedding, LM scoring) write their results here without touching the
warehouse; a short writer step loads them. The writer is idempotent: tables are keyed, so loading
the same parts twice changes nothing.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl


class Staging:
    """Parquet parts per table, plus small JSON documents, in one folder."""

    def __init__(self, folder: Path, *, fresh: bool = False):
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        if fresh:
            for old in folder.glob("*"):
                old.unlink()

    def write(self, table: str, frame: pl.DataFrame) -> None:
        """Add one part of rows for `table`."""
        index = len(list(self.folder.glob(f"{table}-*.parquet")))
        partial = self.folder / f"{table}-{index:05d}.parquet.partial"
        frame.write_parquet(partial)
        partial.rename(partial.with_suffix(""))  # a killed writer leaves no half part behind

    def frames(self, table: str) -> Iterator[pl.DataFrame]:
        """The parts of `table`, in the order written."""
        for part in sorted(self.folder.glob(f"{table}-*.parquet")):
            yield pl.read_parquet(part)

    def write_json(self, name: str, data: Any) -> None:
        (self.folder / f"{name}.json").write_text(json.dumps(data, default=str))

    def read_json(self, name: str) -> Any:
        path = self.folder / f"{name}.json"
        if not path.exists():
            raise FileNotFoundError(f"nothing staged in {self.folder}: run the step that computes it first")
        return json.loads(path.read_text())
