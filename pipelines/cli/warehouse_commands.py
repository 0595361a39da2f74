"""Warehouse commands: ingest benchmarks, list them, run read-only SQL."""

from __future__ import annotations

import os
from pathlib import Path

import click
import polars as pl

from pipelines.cli.options import DB_HELP, Checked, db_option, format_option
from pipelines.cli.render import render
from warehouse.validation import Count, Seconds


@click.command()
@click.argument("benchmark", required=False)
@click.option(
    "--spec",
    "spec_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="A YAML spec (lm-eval task-file keys) for a benchmark no adapter knows.",
)
@click.option(
    "--path",
    type=click.Path(path_type=Path),
    help="Release file or folder as published; without it the Hugging Face hub is used.",
)
@click.option("--split", "splits", multiple=True, help="Only this split (repeatable). Default: every split found.")
@click.option("--limit", type=click.IntRange(min=1), help="At most N items per split.")
@click.option("--hub", "hub_id", help="Hub dataset id, or a local folder laid out like one, instead of the default.")
@click.option("--revision", help="Hub revision (branch, tag or commit).")
@click.option(
    "--allow-outside-files", is_flag=True, help="Let a spec name data or labels files outside its own folder."
)
@click.option(
    "--replace",
    is_flag=True,
    help="Replace a stored split even by one with fewer than half its items (default: refuse).",
)
@db_option()
def ingest(
    benchmark: str | None,
    spec_path: Path | None,
    path: Path | None,
    splits: tuple[str, ...],
    limit: int | None,
    hub_id: str | None,
    revision: str | None,
    allow_outside_files: bool,
    replace: bool,
    db: str | None,
) -> None:
    """Ingest BENCHMARK (or the benchmark a --spec describes) into the warehouse."""
    from warehouse.ingest import ingest as run_ingest
    from warehouse.sources import load_spec

    if bool(benchmark) == bool(spec_path):
        raise click.UsageError("give a BENCHMARK name or --spec SPEC.yaml (one of them)")
    target = load_spec(spec_path) if spec_path else benchmark
    result = run_ingest(
        target,
        db=db,
        path=path,
        splits=list(splits) or None,
        limit=limit,
        hub_id=hub_id,
        revision=revision,
        allow_outside_files=allow_outside_files,
        replace=replace,
    )
    frame = pl.DataFrame(
        {
            "split": list(result.items),
            "items": list(result.items.values()),
            "rejected": [result.rejects[s] for s in result.items],
        }
    )
    click.echo(
        f"{result.benchmark}: {result.n_items} items, {result.n_rejects} rejected, from {result.origin} "
        f"in {result.seconds:.2f}s"
    )
    click.echo(render(frame))
    if result.n_rejects:
        from warehouse.ingest import MAX_STORED_REJECTS
        from warehouse.sql import run_query

        rejects = run_query(
            f"SELECT source, row_ref, reason FROM ingest_rejects WHERE run_id = '{result.run_id}' LIMIT 5", db
        )
        stored = (
            "all of them"
            if result.n_rejects <= MAX_STORED_REJECTS
            else f"the first {MAX_STORED_REJECTS:,} of each split are stored"
        )
        click.echo(f'first rejects ({stored}: likra sql "SELECT * FROM ingest_rejects"):')
        click.echo(render(rejects, max_width=100))


@click.command()
@db_option()
def benchmarks(db: str | None) -> None:
    """List the built-in benchmarks (and specs registered in the warehouse) and what each needs."""
    from warehouse.db import connect_read_only, warehouse_exists
    from warehouse.sources import builtin_benchmarks, registered_specs

    for name, benchmark in builtin_benchmarks().items():
        click.echo(f"{name:16} {benchmark.describe()}")
    if warehouse_exists(db):
        with connect_read_only(db) as con:
            for name, benchmark in registered_specs(con).items():
                click.echo(f"{name:16} {benchmark.describe()} [registered spec]")


@click.command()
@click.argument("query")
@format_option
@click.option(
    "--max-width", type=Checked(Count, "N"), default=60, show_default=True, help="Truncate table cells (0: never)."
)
@click.option(
    "--max-rows",
    type=Checked(Count, "N"),
    default=1000,
    show_default=True,
    help="Print at most N rows, and say when there are more (0: every row).",
)
@click.option(
    "--timeout",
    type=Checked(Seconds, "SECONDS"),
    default=60,
    show_default=True,
    help="Stop the command after SECONDS, the query and the printing (0: no limit); Ctrl-C stops it too.",
)
@db_option()
def sql(query: str, fmt: str, max_width: int, max_rows: int, timeout: float, db: str | None) -> None:
    """Run one read-only SQL QUERY over the warehouse (writes, ATTACH, COPY, files: refused, exit 2)."""
    import time

    from warehouse.sql import run_query

    deadline = time.monotonic() + timeout if timeout else None
    frame = run_query(query, db, timeout=timeout, max_rows=max_rows or None)
    more = bool(max_rows) and frame.height > max_rows
    if more:
        frame = frame.head(max_rows)
    _print_rows(frame, fmt, max_width, deadline, timeout)
    if more:
        click.echo(
            f"(the first {max_rows:,} rows; the query has more: narrow it, or give --max-rows 0 for all)", err=True
        )


def _print_rows(frame: pl.DataFrame, fmt: str, max_width: int, deadline: float | None, timeout: float) -> None:
    """The rows as they are rendered (CSV in chunks, streamed); past the deadline, QueryTimeout instead."""
    import time

    from warehouse.errors import QueryTimeout

    chunk = 10_000 if fmt == "csv" else max(frame.height, 1)
    for start in range(0, max(frame.height, 1), chunk):
        if deadline is not None and time.monotonic() > deadline:
            raise QueryTimeout(
                f"stopped after {timeout:g}s (--timeout) with {start:,} rows printed; narrow the "
                "query, print fewer rows (--max-rows) or give a larger --timeout (0: no limit)"
            )
        text = render(frame.slice(start, chunk), fmt, max_width)
        click.echo(text.split("\n", 1)[1] if start and "\n" in text else text)  # one CSV header


@click.group()
def warehouse() -> None:
    """The warehouse itself: move it to another backend, size the Dagster writer pool for it (docs/scaling-out.md)."""


@warehouse.command("copy")
@click.option(
    "--to",
    "target",
    required=True,
    metavar="WAREHOUSE",
    help="The new, empty warehouse: ducklake:<catalog> (or a DuckDB file to move back).",
)
@db_option(DB_HELP + " The warehouse copied from.")
def copy(target: str, db: str | None) -> None:
    """Copy every table of the warehouse into a new one, e.g. a DuckDB file into DuckLake, without re-ingesting."""
    from warehouse.copy import copy_warehouse
    from warehouse.location import resolve_location

    copied = copy_warehouse(db, target)
    click.echo(
        f"copied {sum(copied.values())} rows in {len(copied)} tables from {resolve_location(db)} "
        f"to {resolve_location(target).text.partition('?')[0]}"
    )
    frame = pl.DataFrame({"table": list(copied), "rows": list(copied.values())})
    click.echo(render(frame.filter(pl.col("rows") > 0)))


@warehouse.command("pool")
@click.option(
    "--limit",
    type=click.IntRange(min=1),
    default=None,
    help="Writing steps at once; default $LIKRA_WRITER_POOL_LIMIT, else by backend: 1 for a DuckDB file or "
    "DuckLake catalog file, 2 for a SQLite catalog, 4 for PostgreSQL.",
)
@db_option()
def pool(limit: int | None, db: str | None) -> None:
    """Set the Dagster instance's (at $DAGSTER_HOME) writer pool for the warehouse's backend (docs/scaling-out.md)."""
    import dagster as dg

    from pipelines.defs.pools import set_writer_pool_limit, writer_pool_limit
    from pipelines.defs.resources import WAREHOUSE_POOL
    from warehouse.location import resolve_location

    chosen = writer_pool_limit(db, limit)
    if not os.environ.get("DAGSTER_HOME"):
        raise click.UsageError("DAGSTER_HOME is not set: it names the Dagster instance whose pool is set")
    with dg.DagsterInstance.get() as instance:
        set_writer_pool_limit(instance, chosen)
    click.echo(
        f"pool {WAREHOUSE_POOL}: {chosen} writing step{'s' if chosen > 1 else ''} at once, "
        f"for {resolve_location(db).text.partition('?')[0]}"
    )
