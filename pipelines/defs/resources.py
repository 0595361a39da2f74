"""Resources: where the warehouse and local benchmark files live."""

import os
from pathlib import Path

import dagster as dg
from pydantic import Field

from warehouse.paths import resolve_db_path

# Every asset that writes the warehouse runs in this pool; dagster.yaml limits pools to 1 at a time,
# because DuckDB allows one writer process per file.
WAREHOUSE_POOL = "warehouse_writer"


class WarehouseResource(dg.ConfigurableResource):
    """The DuckDB warehouse file and the optional folder of local benchmark release files."""

    db_path: str | None = Field(default=None, description="Warehouse file; default $LIKRA_DB or data/warehouse.duckdb")
    benchmarks_dir: str | None = Field(
        default=None,
        description="Folder with one subfolder of release files per benchmark (default $LIKRA_BENCHMARKS_DIR); "
        "used when a run gives no path, before falling back to the hub",
    )

    def path(self) -> Path:
        """The warehouse file this resource points at."""
        return resolve_db_path(self.db_path)

    def benchmarks_root(self) -> Path | None:
        """The local benchmark collection, if one is configured."""
        root = self.benchmarks_dir or os.environ.get("LIKRA_BENCHMARKS_DIR")
        return Path(root) if root else None
