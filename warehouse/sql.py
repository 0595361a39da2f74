"""Read-only SQL over the warehouse: one SELECT-like statement, no writes, no other files."""

from __future__ import annotations

import json
import math
import re
import time
from concurrent.futures import Future, ThreadPoolExecutor, wait

import duckdb
import polars as pl

from warehouse.db import connect_read_only
from warehouse.errors import QueryTimeout, ReadOnlyViolation, WarehouseError, one_line
from warehouse.location import DbRef, resolve_location

_ALLOWED = {duckdb.StatementType.SELECT, duckdb.StatementType.EXPLAIN}
_READS = "SELECT, WITH, FROM, SHOW, DESCRIBE, SUMMARIZE, PRAGMA show_tables and EXPLAIN"


def _statements(query: str) -> list[list[str]]:
    """The keywords of each `;`-separated statement, from DuckDB's tokenizer, which parses and opens nothing."""
    statements: list[list[str]] = [[]]
    for start, kind in duckdb.tokenize(query):
        if kind == duckdb.token_type.operator and query.startswith(";", start):
            statements.append([])
            continue
        word = re.match(r"\w+|\S", query[start:])
        statements[-1].append(word.group(0).upper() if kind == duckdb.token_type.keyword else "")
    return [keywords for keywords in statements if keywords]


def _pivot_expansion(keywords: list[str], statements: list) -> bool:
    """DuckDB parses one PIVOT without an IN list as CREATE TYPE (its column values) + SELECT."""
    return (
        "PIVOT" in keywords
        and statements[-1].type == duckdb.StatementType.SELECT
        and all(s.type == duckdb.StatementType.CREATE for s in statements[:-1])
    )


def _first_paragraph(exc: duckdb.Error) -> str:
    """DuckDB's message on one line, without the quoted query and caret it adds below a blank line."""
    return one_line(str(exc).split("\n\n")[0])


def check_read_only(query: str) -> str:
    """The single statement in `query` if it only reads; ReadOnlyViolation otherwise."""
    texts = _statements(query)
    if any("IMPORT" in keywords for keywords in texts):  # DuckDB reads IMPORT's files while parsing it
        raise ReadOnlyViolation(
            f"refused: IMPORT statements are not allowed; the warehouse is read-only here (it runs {_READS})."
        )
    if len(texts) != 1:
        raise ReadOnlyViolation(f"refused: give exactly one statement (found {len(texts)})")
    try:
        statements = duckdb.extract_statements(query)
    except duckdb.Error as exc:
        raise WarehouseError(f"SQL syntax error: {_first_paragraph(exc)}") from exc
    if len(statements) > 1 and not _pivot_expansion(texts[0], statements):
        raise ReadOnlyViolation(f"refused: give exactly one statement (found {len(statements)})")
    statement = statements[-1]
    if statement.type not in _ALLOWED:
        kind = statement.type.name
        raise ReadOnlyViolation(
            f"refused: {kind} statements are not allowed; the warehouse is read-only here "
            f"(it runs {_READS}). Change data through `likra ingest` and the pipeline."
        )
    return query


# Table functions that compute rows or describe the warehouse; every other one (read_text, read_parquet, glob,
# query, ...) reads files or runs SQL text, and a query reads the warehouse's tables only, through its catalog.
_TABLE_FUNCTIONS = frozenset(
    {
        "range",
        "generate_series",
        "unnest",
        "repeat",
        "repeat_row",
        "json_each",
        "json_tree",
        "pragma_table_info",
        "pragma_show",
        "pragma_storage_info",
        "pragma_database_size",
        "pragma_version",
        "pragma_platform",
        "duckdb_tables",
        "duckdb_views",
        "duckdb_columns",
        "duckdb_schemas",
        "duckdb_databases",
        "duckdb_types",
        "duckdb_functions",
        "duckdb_constraints",
        "duckdb_indexes",
        "duckdb_keywords",
        "duckdb_settings",
        "ducklake_snapshots",
        "ducklake_table_info",
        "ducklake_table_changes",
        "ducklake_table_insertions",
        "ducklake_table_deletions",
        "ducklake_current_snapshot",
        "ducklake_last_committed_snapshot",
    }
)
_FILE_NAME = re.compile(r"[./\\:~]")  # a FROM name like 'x.parquet' or '/data/x' is a file, not a table


def _relations(node: object, found: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Every table function and table name in a serialized statement, as (kind, name)."""
    stack = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, dict):
            if current.get("type") == "TABLE_FUNCTION" and isinstance(current.get("function"), dict):
                found.append(("function", str(current["function"].get("function_name", ""))))
            elif current.get("type") == "BASE_TABLE":
                found.append(("table", str(current.get("table_name", ""))))
            stack.extend(current.values())
        elif isinstance(current, list):
            stack.extend(current)
    return found


def check_reads_tables_only(query: str, *, strict: bool) -> None:
    """Refuse a statement that reads anything but tables: a file-reading table function or a file named in FROM.

    `strict` (DuckLake, whose sandbox must let DuckDB read the data path) also refuses a statement that cannot
    be checked; on a DuckDB file the sandbox itself refuses every file."""
    body = re.sub(r"^\s*EXPLAIN(\s+ANALYZE)?\b", "", query, flags=re.IGNORECASE)
    with duckdb.connect() as scratch:
        tree = json.loads(scratch.execute("SELECT json_serialize_sql(?)", [body]).fetchone()[0])
    if tree.get("error"):
        if strict:
            raise ReadOnlyViolation(
                "refused: on a DuckLake warehouse only SELECT-like statements run here "
                "(SELECT, WITH, FROM, SHOW, DESCRIBE, SUMMARIZE, EXPLAIN)"
            )
        return
    for kind, name in _relations(tree, []):
        if kind == "function" and name.lower() not in _TABLE_FUNCTIONS:
            raise ReadOnlyViolation(
                f"refused: the query reaches outside the warehouse ({name}() reads files "
                "or runs other SQL); the warehouse is read-only here: read its tables"
            )
        if kind == "table" and _FILE_NAME.search(name):
            raise ReadOnlyViolation(
                f"refused: the query reaches outside the warehouse ({name!r} names a file); "
                "the warehouse is read-only here: read its tables"
            )


DEFAULT_TIMEOUT = 60.0


def _fetch(con: duckdb.DuckDBPyConnection, query: str, max_rows: int | None) -> pl.DataFrame:
    """The query's rows, streamed in batches; with `max_rows`, at most max_rows + 1 of them (the one more says
    there were more), so a query of millions of rows costs what it prints."""
    import pyarrow as pa

    reader = con.execute(query).to_arrow_reader(10_000)
    batches, rows = [], 0
    for batch in reader:
        batches.append(batch)
        rows += batch.num_rows
        if max_rows is not None and rows > max_rows:
            break
    table = pa.Table.from_batches(batches, schema=reader.schema)
    if max_rows is not None:
        table = table.slice(0, max_rows + 1)
    return pl.from_arrow(table) if table.num_columns else pl.DataFrame()


def _interruptible(
    con: duckdb.DuckDBPyConnection, query: str, timeout: float | None, max_rows: int | None = None
) -> pl.DataFrame:
    """Run `query` in a worker thread so that the timeout and Ctrl-C can interrupt it.

    While DuckDB works, the calling thread is not blocked in C code: it waits on the result, so it
    can handle SIGINT, and both the timeout and Ctrl-C stop the query through `interrupt()`.
    """
    deadline = time.monotonic() + timeout if timeout else math.inf
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="likra-sql") as pool:
        future = pool.submit(_fetch, con, query, max_rows)
        try:
            # Short waits: SIGINT may land on one of DuckDB's threads, which does not wake a long wait.
            while not future.done() and time.monotonic() < deadline:
                wait([future], timeout=min(0.1, deadline - time.monotonic()))
        except KeyboardInterrupt:
            _stop(con, future)
            raise
        if not future.done():
            _stop(con, future)
            raise QueryTimeout(
                f"query stopped after {timeout:g}s (--timeout); narrow it, or give a larger --timeout (0: no limit)"
            )
        return future.result()


def _stop(con: duckdb.DuckDBPyConnection, future: Future) -> None:
    """Interrupt until the worker is done: an interrupt that lands before the query starts is lost."""
    while not future.done():
        con.interrupt()
        wait([future], timeout=0.1)


def run_query(
    query: str,
    db: DbRef = None,
    timeout: float | None = DEFAULT_TIMEOUT,
    max_rows: int | None = None,
) -> pl.DataFrame:
    """Run one read-only statement on a read-only, sandboxed connection and return its rows.

    The query is interrupted after `timeout` seconds (None or 0: no limit), or on Ctrl-C. With `max_rows`, at
    most max_rows + 1 rows are read (a frame taller than max_rows means the query had more).
    """
    check_read_only(query)
    check_reads_tables_only(query, strict=resolve_location(db).is_ducklake)
    con = connect_read_only(db, sandbox=True)
    try:
        return _interruptible(con, query, timeout, max_rows)
    except duckdb.PermissionException as exc:
        raise ReadOnlyViolation(f"refused: the query reaches outside the warehouse ({_first_paragraph(exc)})") from exc
    except duckdb.Error as exc:
        raise WarehouseError(f"query failed: {_first_paragraph(exc)}") from exc
    finally:
        con.close()
