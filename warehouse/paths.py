"""Where the warehouse lives (`--db`, else `$LIKRA_DB`, else `data/warehouse.duckdb`) and its local folder."""

from __future__ import annotations

import os
from pathlib import Path

from warehouse.errors import WarehouseError
from warehouse.location import DB_ENV, DEFAULT_DB, DbRef, local_folder, resolve_location

__all__ = ["DB_ENV", "DEFAULT_DB", "OutputPathError", "checked_output", "data_dir", "resolve_db_path"]


class OutputPathError(WarehouseError):
    """A path to write to that is no place for it: a system folder, under a file, a pipe; the message names it."""


def resolve_db_path(db: DbRef = None) -> Path:
    """The warehouse setting as a path (a DuckLake setting comes back as written; see `resolve_location`)."""
    location = resolve_location(db)
    return location.path if location.path is not None else Path(location.text)


def data_dir(db: DbRef = None) -> Path:
    """The folder beside the warehouse where caches (converted models, embeddings) live."""
    return local_folder(resolve_location(db))


# Folders of the operating system itself: nothing the toolkit writes belongs there (/proc and /sys are not files).
SYSTEM_FOLDERS = tuple(
    Path(p)
    for p in (
        "/proc",
        "/sys",
        "/dev",
        "/etc",
        "/bin",
        "/sbin",
        "/boot",
        "/lib",
        "/lib32",
        "/lib64",
        "/usr",
        "/run",
        "/var/lib",
        "/var/run",
    )
)


def checked_output(path: str | os.PathLike[str], what: str, *, folder: bool = False) -> Path:
    """Where `what` may be written: `path` (a file, or with `folder` a folder of its own) made absolute, or
    OutputPathError naming it when it is the root of the file system, inside a system folder (/proc, /sys, /etc,
    /usr, ...), under a file, a folder where a file goes (or the reverse), or a pipe, device or socket."""
    given = os.fspath(path).rstrip("/") or "/"
    target = Path(os.path.realpath(os.path.expanduser(given)))
    if target == Path(target.anchor) or (not folder and target.parent == Path(target.anchor)):
        where = "is" if target == Path(target.anchor) else "is in"
        raise OutputPathError(f"{what} {given} {where} the root of the file system; choose a folder of its own")
    system = next((s for s in SYSTEM_FOLDERS if target == s or target.is_relative_to(s)), None)
    if system is not None:
        raise OutputPathError(f"{what} {given} is inside the system folder {system}; choose another path")
    if target.exists():
        if folder and not target.is_dir():
            raise OutputPathError(f"{what} {given} is a file, not a folder; choose a folder")
        if not folder and target.is_dir():
            raise OutputPathError(f"{what} {given} is a folder; give a file path")
        if not folder and not target.is_file():
            raise OutputPathError(f"{what} {given} is not a regular file (a pipe, device or socket); give a file path")
    for parent in target.parents:
        if parent.exists():
            if not parent.is_dir():
                raise OutputPathError(f"{what} {given} cannot be there: its parent {parent} is a file, not a folder")
            break
    return target
