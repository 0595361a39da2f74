"""Faults: runs killed midway (SIGKILL), a full disk and a read-only warehouse. A killed run keeps only whole,
committed work and its rerun completes it; a write the file system refuses is one line on the CLI, never a
traceback, and leaves the warehouse as it was. (A killed training run: tests/test_likra.py.)"""

from __future__ import annotations

import ctypes
import os
import re
import resource
import selectors
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from tiny_models import save_tiny_model
from warehouse_checks import KEYS, cli, cli_env, duplicate_keys, negatives_by_run, query, run_cli

from mining.config import mining_config
from mining.run import mine_benchmark
from warehouse.ingest import ingest

LIMIT = 300  # seconds; a safety limit, nothing asserts on speed


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(save_tiny_model(tmp_path_factory.mktemp("models") / "tiny-llama"))


def kill_when(process: subprocess.Popen, happened: Callable[[], bool], what: str) -> None:
    """SIGKILL the process as soon as `happened()`; it must still have been running."""
    deadline = time.monotonic() + LIMIT
    while not happened():
        assert process.poll() is None, f"the run ended before {what}"
        assert time.monotonic() < deadline, f"no {what} within {LIMIT} s"
        time.sleep(0.005)
    os.kill(process.pid, signal.SIGKILL)
    assert process.wait() == -signal.SIGKILL, f"the run ended on its own right after {what}"


def read_until(process: subprocess.Popen, pattern: str) -> str:
    """Read the process's stdout up to the first line matching `pattern`."""
    selector = selectors.DefaultSelector()
    selector.register(process.stdout, selectors.EVENT_READ)
    deadline, seen = time.monotonic() + LIMIT, ""
    while time.monotonic() < deadline:
        if selector.select(timeout=1):
            line = process.stdout.readline()
            assert line, f"the run ended before printing {pattern!r}:\n{seen}"
            seen += line
            if re.search(pattern, line):
                return line
    raise AssertionError(f"no {pattern!r} within {LIMIT} s:\n{seen}")


def row_counts(db: Path) -> dict[str, int]:
    return {table: query(db, f"SELECT count(*) FROM {table}")[0][0] for table in KEYS}


@pytest.mark.slow
def test_a_scoring_run_killed_midway_keeps_whole_items_and_its_rerun_completes(
    samples: Path, db: Path, tiny_model: str
) -> None:
    ingest("arc_challenge", db=db, path=samples / "arc_challenge")
    command = cli("score", "arc_challenge", "--model", tiny_model, "--db", str(db))
    unwritten = db.stat().st_mtime_ns
    process = subprocess.Popen(command, env=cli_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    kill_when(process, lambda: db.stat().st_mtime_ns != unwritten, "the first chunk of scores was written")

    per_item = query(
        db,
        "SELECT count(*) = len(any_value(i.choices)) FROM choice_scores s JOIN items i "
        "USING (item_id) GROUP BY item_id",
    )
    assert 0 < len(per_item) < 1172 and all(whole for (whole,) in per_item)  # midway, and only whole items
    [(kept,)] = query(db, "SELECT count(*) FROM choice_scores")
    assert duplicate_keys(db) == {}

    rerun = subprocess.run(command, env=cli_env(), capture_output=True, text=True, check=False)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert int(re.search(r"\((\d+) cached", rerun.stdout).group(1)) >= kept  # what the killed run wrote is reused
    assert query(db, "SELECT count(*) FROM choice_scores") == query(db, "SELECT sum(len(choices)) FROM items")
    assert duplicate_keys(db) == {}


@pytest.mark.slow
def test_a_mining_run_killed_midway_leaves_the_last_complete_run_and_its_rerun_replaces_it(
    db: Path, tiny_model: str
) -> None:
    ingest("demo", db=db)
    first = mine_benchmark("demo", db=db, config=mining_config(scorer_model=tiny_model, k=2))
    command = cli("mine", "demo", "--model", tiny_model, "-k", "3", "--db", str(db))
    process = subprocess.Popen(command, env=cli_env(), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    read_until(process, r"^\s*candidates: \d+")  # stored; the candidates are being scored now
    kill_when(process, lambda: True, "the candidates were stored")

    assert negatives_by_run(db, "demo") == [(first.run_id, first.negatives, True)]
    assert query(db, "SELECT run_id FROM mining_runs") == [(first.run_id,)]
    assert duplicate_keys(db) == {}

    rerun = subprocess.run(command, env=cli_env(), capture_output=True, text=True, check=False)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert "unchanged since run" in rerun.stdout  # the killed run's candidates were kept and reused
    [(run_id, negatives, recorded)] = negatives_by_run(db, "demo")
    assert run_id != first.run_id and recorded and negatives > first.negatives
    assert query(db, "SELECT json_extract(config, '$.k')::INT FROM mining_runs WHERE run_id = ?", run_id) == [(3,)]
    assert duplicate_keys(db) == {}


def file_size_limit(size: int) -> Callable[[], None]:
    """For a subprocess: no file may grow past `size` bytes (writes fail with EFBIG, as on a full disk)."""

    def limit() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # else the kernel kills the writer instead of failing it
        resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))

    return limit


@pytest.mark.parametrize(
    "command",
    [
        ["ingest", "arc_challenge", "--path", "{samples}/arc_challenge"],
        ["score", "demo", "--model", "{model}"],
        ["mine", "demo", "--model", "{model}", "-k", "3"],
    ],
    ids=["ingest", "score", "mine"],
)
def test_a_full_disk_stops_a_command_with_one_line_and_keeps_the_warehouse(
    command: list[str], samples: Path, db: Path, tiny_model: str
) -> None:
    ingest("demo", db=db)
    before = row_counts(db)
    args = [part.format(samples=samples, model=tiny_model) for part in command]

    result = run_cli(*args, "--db", str(db), preexec_fn=file_size_limit(64 * 1024))

    assert result.returncode == 1, result.stdout[-1000:] + result.stderr[-3000:]
    [line] = result.stderr.splitlines()
    assert line.startswith(f"error: cannot write warehouse {db}: ") and "File too large" in line
    assert row_counts(db) == before


def without_permission_override() -> None:
    """For a subprocess: honour file modes even as root, by dropping the capabilities that bypass them
    (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH) from its bounding set."""
    if os.geteuid() != 0:
        return
    libc = ctypes.CDLL(None, use_errno=True)
    for capability in (1, 2):
        if libc.prctl(24, capability, 0, 0, 0) != 0:  # PR_CAPBSET_DROP
            raise OSError(ctypes.get_errno(), "cannot drop CAP_DAC_OVERRIDE to test a read-only warehouse as root")


@pytest.mark.parametrize("read_only", ["file and folder", "folder"])
def test_a_read_only_warehouse_refuses_writes_with_one_line_and_still_answers_queries(
    read_only: str, tmp_path: Path
) -> None:
    db = tmp_path / "warehouse" / "warehouse.duckdb"
    ingest("demo", db=db)
    before = row_counts(db)
    if "file" in read_only:
        db.chmod(0o444)
    db.parent.chmod(0o555)
    try:
        write = run_cli("ingest", "demo", "--db", str(db), preexec_fn=without_permission_override)
        read = run_cli(
            "sql", "SELECT count(*) AS n FROM items", "--db", str(db), preexec_fn=without_permission_override
        )
    finally:
        db.parent.chmod(0o755)
        db.chmod(0o644)

    assert write.returncode == 1, write.stdout[-1000:] + write.stderr[-3000:]
    [line] = write.stderr.splitlines()
    assert line.startswith("error: cannot ") and str(db) in line and "Permission denied" in line
    assert read.returncode == 0 and read.stdout.splitlines()[2].strip() == "40", read.stdout + read.stderr
    assert row_counts(db) == before


def test_an_export_past_a_file_size_limit_is_one_line_and_leaves_no_file(demo_db: Path, tmp_path: Path) -> None:
    out = tmp_path / "exports" / "pairs"
    out.parent.mkdir()

    result = run_cli(
        "export", "demo", "--format", "dpo", "--out", str(out), "--db", str(demo_db), preexec_fn=file_size_limit(1024)
    )

    assert result.returncode == 1, result.stdout[-1000:] + result.stderr[-3000:]
    [line] = result.stderr.splitlines()
    assert line.startswith(f"error: cannot write export {out}.jsonl: File too large") and "nothing was written" in line
    assert list(out.parent.iterdir()) == []  # no truncated file, no staging file
