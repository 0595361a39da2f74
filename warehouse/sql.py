"""Read-only SQL over the warehouse: one SELECT-like statement, no writes, no other files."""

from __future__ import annotations

import math
import os
import re
import time
from concurrent.futures import Future, ThreadPoolExecutor, wait

import duckdb
import polars as pl

from warehouse.db import connect_read_only
from warehouse.errors import QueryTimeout, ReadOnlyViolation, WarehouseError, one_line

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
    return ("PIVOT" in keywords and statements[-1].type == duckdb.StatementType.SELECT
            and all(s.type == duckdb.StatementType.CREATE for s in statements[:-1]))


def _first_paragraph(exc: duckdb.Error) -> str:
    """DuckDB's message on one line, without the quoted query and caret it adds below a blank line."""
    return one_line(str(exc).split("\n\n")[0])


def check_read_only(query: str) -> str:
    """The single statement in `query` if it only reads; ReadOnlyViolation otherwise."""
    texts = _statements(query)
    if any("IMPORT" in keywords for keywords in texts):  # DuckDB reads IMPORT's files while parsing it
        raise ReadOnlyViolation(f"refused: IMPORT statements are not allowed; the warehouse is read-only here "
                                f"(it runs {_READS}).")
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


DEFAULT_TIMEOUT = 60.0


def _interruptible(con: duckdb.DuckDBPyConnection, query: str, timeout: float | None) -> pl.DataFrame:
    """Run `query` in a worker thread so that the timeout and Ctrl-C can interrupt it.

    While DuckDB works, the calling thread is not blocked in C code: it waits on the result, so it
    can handle SIGINT, and both the timeout and Ctrl-C stop the query through `interrupt()`.
    """
    deadline = time.monotonic() + timeout if timeout else math.inf
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="likra-sql") as pool:
        future = pool.submit(lambda: con.sql(query).pl())
        try:
            # Short waits: SIGINT may land on one of DuckDB's threads, which does not wake a long wait.
            while not future.done() and time.monotonic() < deadline:
                wait([future], timeout=min(0.1, deadline - time.monotonic()))
        except KeyboardInterrupt:
            _stop(con, future)
            raise
        if not future.done():
            _stop(con, future)
            raise QueryTimeout(f"query stopped after {timeout:g}s (--timeout); narrow it, "
                               "or give a larger --timeout (0: no limit)")
        return future.result()


def _stop(con: duckdb.DuckDBPyConnection, future: Future) -> None:
    """Interrupt until the worker is done: an interrupt that lands before the query starts is lost."""
    while not future.done():
        con.interrupt()
        wait([future], timeout=0.1)


def run_query(query: str, db: str | os.PathLike[str] | None = None,
              timeout: float | None = DEFAULT_TIMEOUT) -> pl.DataFrame:
    """Run one read-only statement on a read-only, sandboxed connection and return its rows.

    The query is interrupted after `timeout` seconds (None or 0: no limit), or on Ctrl-C.
    """
    check_read_only(query)
    con = connect_read_only(db, sandbox=True)
    try:
        return _interruptible(con, query, timeout)
    except duckdb.PermissionException as exc:
        raise ReadOnlyViolation(f"refused: the query reaches outside the warehouse ({_first_paragraph(exc)})") from exc
    except duckdb.Error as exc:
        raise WarehouseError(f"query failed: {_first_paragraph(exc)}") from exc
    finally:
        con.close()
