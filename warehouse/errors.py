"""Errors for bad input. `LikraError` is the root of every problem a user can fix; each package
raises its own subclass, and each message names the input that was wrong and what would be right."""


class LikraError(Exception):
    """A problem the user can fix: the message says what was wrong and what would be right."""


class WarehouseError(LikraError):
    """A problem with the warehouse, a benchmark source or a query."""


class UnknownBenchmarkError(WarehouseError):
    """A benchmark name that is neither built in nor registered by a spec."""


class SourceFormatError(WarehouseError):
    """A file or dataset that is not in the layout its benchmark expects; nothing is written."""


class SpecError(WarehouseError):
    """A declarative benchmark spec with a missing, unknown or invalid key."""


class ReadOnlyViolation(WarehouseError):
    """A SQL statement that would change the warehouse or reach outside it."""


class QueryTimeout(WarehouseError):
    """A query that ran past its time limit and was interrupted."""


class RowError(Exception):
    """One malformed source row; it becomes a row of `ingest_rejects`, the rest is ingested."""


def one_line(error: BaseException | str, limit: int = 300) -> str:
    """Another library's error message on one line, cut to `limit` characters."""
    text = " ".join(str(error).split()) or type(error).__name__
    return text if len(text) <= limit else text[: limit - 1] + "…"
