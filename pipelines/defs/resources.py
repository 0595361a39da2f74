"""Resources: where the warehouse and local benchmark files live."""

import os
import shutil
from pathlib import Path
from typing import Any

import dagster as dg
from pydantic import Field

from warehouse.paths import data_dir, resolve_db_path
from warehouse.sinks import StagingSink

# Every asset that writes the warehouse runs in this pool; dagster.yaml limits pools to 1 at a time,
# because DuckDB allows one writer process per file (DuckLake takes concurrent writers; see docs/scaling-out.md).
WAREHOUSE_POOL = "warehouse_writer"


class WarehouseResource(dg.ConfigurableResource):
    """The warehouse (a DuckDB file or a DuckLake catalog) and the optional folder of local benchmark release files."""

    db_path: str | None = Field(
        default=None,
        description="Warehouse: a DuckDB file, or ducklake:<catalog> (docs/scaling-out.md); "
        "default $LIKRA_DB or data/warehouse.duckdb",
    )
    benchmarks_dir: str | None = Field(
        default=None,
        description="Folder with one subfolder of release files per benchmark (default $LIKRA_BENCHMARKS_DIR); "
        "used when a run gives no path, before falling back to the hub",
    )

    def path(self) -> Path:
        """The warehouse setting this resource points at, as a path (a DuckLake setting as written)."""
        return resolve_db_path(self.db_path)

    def benchmarks_root(self) -> Path | None:
        """The local benchmark collection, if one is configured."""
        root = self.benchmarks_dir or os.environ.get("LIKRA_BENCHMARKS_DIR")
        return Path(root) if root else None

    def staging(self, step: str, benchmark: str, *, fresh: bool = False) -> StagingSink:
        """The folder where one step of one benchmark partition hands its rows to the writer: beside the warehouse."""
        return StagingSink(data_dir(self.db_path) / "staging" / step / benchmark, fresh=fresh)

    def chunks_folder(self, step: str, benchmark: str) -> Path:
        """Where the chunks of a fanned-out step of one partition stage their rows, one subfolder each."""
        return data_dir(self.db_path) / "staging" / f"{step}.chunks" / benchmark

    def chunk_staging(self, step: str, benchmark: str, index: int) -> StagingSink:
        """The (emptied) staging folder of chunk `index` of a fanned-out step."""
        return StagingSink(self.chunks_folder(step, benchmark) / f"{index:05d}", fresh=True)

    def clear_chunks(self, step: str, benchmark: str) -> None:
        """Forget a previous run's chunks (it may have had more of them) before a step fans out again."""
        shutil.rmtree(self.chunks_folder(step, benchmark), ignore_errors=True)

    def staged_chunks(self, step: str, benchmark: str) -> list[StagingSink]:
        """Every chunk's staging folder of a fanned-out step, in chunk order."""
        folder = self.chunks_folder(step, benchmark)
        return [StagingSink(part, fresh=False) for part in sorted(folder.iterdir())] if folder.is_dir() else []


def pipeline_resources(db_path: str | None = None) -> dict[str, Any]:
    """Every resource the assets need: the warehouse, and the mining and Likra settings the assets of a stage
    share (one run-config block, e.g. `resources: likra: config:`, sets them for every asset of the stage)."""
    from pipelines.defs.settings import LikraSettings, MiningSettings

    return {"warehouse": WarehouseResource(db_path=db_path), "mining": MiningSettings(), "likra": LikraSettings()}
