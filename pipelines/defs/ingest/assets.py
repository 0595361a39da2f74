"""The `items` asset: one benchmark partition ingested into the warehouse, with its quality checks."""

from pathlib import Path

import dagster as dg
from pydantic import Field

from pipelines.defs.checks import zero_check
from pipelines.defs.metadata import markdown_table
from pipelines.defs.partitions import benchmark_asset
from pipelines.defs.resources import WarehouseResource
from warehouse.db import connect_read_only
from warehouse.errors import SpecError
from warehouse.ingest import IngestResult, ingest
from warehouse.items import COLUMNS
from warehouse.quality import ItemsQuality, items_quality
from warehouse.sources import SpecBenchmark, load_spec
from warehouse.sources.collection import scan_collection

ITEMS_SCHEMA = dg.TableSchema(
    columns=[dg.TableColumn(name, column.sql, description=column.description) for name, column in COLUMNS.items()]
)


class ItemsConfig(dg.Config):
    """Where to read the partition's benchmark from, and how much of it."""

    path: str | None = Field(
        default=None,
        description="Local release file or folder. Default: the benchmark's "
        "folder (or spec file) under the warehouse resource's benchmarks_dir, if present; "
        "else a spec registered in the warehouse, else the hub.",
    )
    spec: str | None = Field(
        default=None,
        description="A spec file (lm-eval task keys) describing this partition's "
        "benchmark: registered in the warehouse and ingested from the files it names",
    )
    hub_id: str | None = Field(
        default=None,
        description="Hub dataset id (or a local folder laid out like one) instead of the benchmark's default",
    )
    revision: str | None = Field(default=None, description="Hub revision (branch, tag or commit)")
    splits: list[str] | None = Field(default=None, description="Only these splits (default: all available)")
    limit: int | None = Field(default=None, ge=1, description="At most this many items per split")
    max_reject_rate: float = Field(
        default=0.05, ge=0, le=1, allow_inf_nan=False, description="The reject-rate check warns above this share"
    )
    allow_outside_files: bool = Field(default=False, description="Let the spec name files outside its own folder")
    replace: bool = Field(
        default=False, description="Replace a stored split even by one with fewer than half its items (default: refuse)"
    )


def _preview(con, benchmark: str, n: int = 5) -> str:
    frame = con.execute(
        "SELECT '`' || item_id || '`' AS item, prompt, '**' || choices[gold + 1] || '**' AS gold, "
        "array_to_string(list_filter(choices, (c, i) -> i <> gold + 1), '; ') AS \"other choices\" "
        "FROM items WHERE benchmark = ? ORDER BY split, item_id LIMIT ?",
        [benchmark, n],
    ).pl()
    return markdown_table(frame, width=90)


def _checks(quality: ItemsQuality, max_reject_rate: float) -> list[dg.AssetCheckResult]:
    return [
        zero_check("item_ids_unique", quality.duplicate_ids, "duplicates"),
        zero_check("gold_in_range", quality.gold_out_of_range, "out_of_range"),
        zero_check("two_nonempty_choices", quality.too_few_choices, "items_with_fewer"),
        dg.AssetCheckResult(
            check_name="reject_rate",
            passed=quality.reject_rate <= max_reject_rate,
            severity=dg.AssetCheckSeverity.WARN,
            metadata={"reject_rate": quality.reject_rate, "rejects": quality.n_rejects, "threshold": max_reject_rate},
        ),
    ]


@benchmark_asset(
    "ingest",
    writer=True,
    kinds={"duckdb", "python"},
    metadata={"dagster/column_schema": ITEMS_SCHEMA},  # the UI lists the columns before the first materialisation
    description="Benchmark questions in the warehouse table `items`: prompt, choices and gold as "
    "lm-evaluation-harness scores them. Rows that cannot be used go to `ingest_rejects`.",
    check_specs=[
        dg.AssetCheckSpec("item_ids_unique", asset="items", blocking=True, description="item_id is unique"),
        dg.AssetCheckSpec(
            "gold_in_range", asset="items", blocking=True, description="gold (and every golds entry) indexes a choice"
        ),
        dg.AssetCheckSpec(
            "two_nonempty_choices",
            asset="items",
            blocking=True,
            description="every item has at least two non-empty choices",
        ),
        dg.AssetCheckSpec("reject_rate", asset="items", description="share of source rows rejected (warns)"),
    ],
)
def items(context: dg.AssetExecutionContext, config: ItemsConfig, warehouse: WarehouseResource) -> dg.MaterializeResult:
    benchmark = context.partition_key
    path, spec = config.path, config.spec
    root = warehouse.benchmarks_root()
    if path is None and spec is None and config.hub_id is None and root is not None and root.is_dir():
        found = scan_collection(root).benchmarks.get(benchmark)
        if found is not None:
            path, spec = (str(found.path) if found.path else None), (str(found.spec) if found.spec else None)
    target: str | SpecBenchmark = benchmark
    if spec is not None:
        target = load_spec(Path(spec))
        if target.name != benchmark:
            raise SpecError(f"spec {spec} describes benchmark {target.name!r}, not this partition ({benchmark!r})")
    result: IngestResult = ingest(
        target,
        db=warehouse.db_path,
        path=path,
        splits=config.splits,
        limit=config.limit,
        hub_id=config.hub_id,
        revision=config.revision,
        allow_outside_files=config.allow_outside_files,
        replace=config.replace,
    )
    context.log.info(f"ingested {result.n_items} items, {result.n_rejects} rejects from {result.origin}")
    with connect_read_only(warehouse.db_path) as con:
        quality = items_quality(con, benchmark)
        preview = _preview(con, benchmark)
        per_split = dict(
            con.execute(
                "SELECT split, count(*) FROM items WHERE benchmark = ? GROUP BY split ORDER BY split", [benchmark]
            ).fetchall()
        )
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": quality.n_items,
            "dagster/column_schema": ITEMS_SCHEMA,
            "items_by_split": per_split,
            "ingested_now": result.items,
            "rejects": result.n_rejects,
            "origin": result.origin,
            "ingest_run_id": result.run_id,
            "seconds": round(result.seconds, 3),
            "preview": dg.MetadataValue.md(preview),
        },
        check_results=_checks(quality, config.max_reject_rate),
    )
