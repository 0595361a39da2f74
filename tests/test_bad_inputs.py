"""Every malformed input of the bad-input corpus (tests/data/bad/manifest.yaml), through the real CLI.

An input that cannot be used stops with one line naming it and leaves the warehouse as it was; a
malformed row becomes a reject naming the row, and every valid row is kept.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sqlite3
from collections.abc import Callable
from pathlib import Path

import duckdb
import pytest
import yaml
from click.testing import CliRunner

from pipelines.cli import main

CORPUS = Path(__file__).resolve().parent / "data" / "bad"
CASES = yaml.safe_load((CORPUS / "manifest.yaml").read_text(encoding="utf-8"))


def ten_megabyte_field(folder: Path, db: Path) -> None:
    """An ARC file whose second question is 10,000,000 characters long (too big to commit)."""
    lines = (CORPUS / "arc_valid" / "ARC-Challenge-Test.jsonl").read_text().splitlines()
    lines[1] = lines[1].replace("Which planet is red?", "x" * 10_000_000)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "ARC-Challenge-Test.jsonl").write_text("\n".join(lines) + "\n")


def csv_field_over_the_csv_limit(folder: Path, db: Path) -> None:
    """An MMLU file whose second question is longer than Python's csv module reads (131,072 characters)."""
    (folder / "test").mkdir(parents=True, exist_ok=True)
    rows = ['"What is 2 + 2?",3,4,5,6,B', f'"{"x" * 200_000}",5,6,7,8,B', '"What is 4 + 4?",6,7,8,9,C']
    (folder / "test" / "algebra_test.csv").write_text("\n".join(rows) + "\n")


def symlink_outside(folder: Path, db: Path) -> None:
    """A data file in the spec's folder that is a link to a file outside it."""
    outside = folder.parent / "outside.jsonl"
    shutil.copy(CORPUS / "spec_bad_template" / "quiz.jsonl", outside)
    (folder / "link.jsonl").symlink_to(outside)


def dataset_folder_link_outside(folder: Path, db: Path) -> None:
    """A spec's dataset_path folder that is a link to a folder outside the spec's folder."""
    outside = folder.parent / "outside"
    outside.mkdir()
    shutil.copy(CORPUS / "spec_bad_template" / "quiz.jsonl", outside / "train.jsonl")
    (folder / "data").symlink_to(outside, target_is_directory=True)


def _quiz_spec_over_folder(folder: Path) -> Path:
    """A spec over the hub-layout folder `data/` beside it; the folder, made empty, is returned."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "quiz.yaml").write_text(
        'task: quiz\ndataset_path: data\ntest_split: test\ndoc_to_text: "{{question}}"\n'
        'doc_to_choice: "{{choices}}"\ndoc_to_target: "{{answer}}"\n'
    )
    (folder / "data").mkdir()
    return folder / "data"


def dataset_folder_file_link_outside(folder: Path, db: Path) -> None:
    """A dataset folder inside the spec's folder whose data file is a link to a file outside it."""
    data = _quiz_spec_over_folder(folder)
    outside = folder.parent / "outside.jsonl"
    shutil.copy(CORPUS / "spec_bad_template" / "quiz.jsonl", outside)
    (data / "test.jsonl").symlink_to(outside)


def dataset_folder_text_link_outside(folder: Path, db: Path) -> None:
    """A dataset folder holding `test.txt`, a link to a text file outside (datasets reads .txt with its text
    builder: any file on the machine would become items)."""
    data = _quiz_spec_over_folder(folder)
    outside = folder.parent / "passwd"
    outside.write_text("root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n")
    (data / "test.txt").symlink_to(outside)


def dataset_folder_readme_names_outside(folder: Path, db: Path) -> None:
    """A dataset folder whose README.md declares a data file outside the spec's folder, by `../` path."""
    data = _quiz_spec_over_folder(folder)
    shutil.copy(CORPUS / "spec_bad_template" / "quiz.jsonl", folder.parent / "outside.jsonl")
    (data / "README.md").write_text(
        "---\nconfigs:\n- config_name: default\n  data_files:\n  - split: test\n    path: ../../outside.jsonl\n---\n"
    )


def ducklake_catalog_storing_the_root(folder: Path, db: Path) -> None:
    """A DuckLake catalog (made by another tool) that stores `/` as its data path."""
    import duckdb

    from warehouse.ducklake import load_extension

    folder.mkdir(parents=True, exist_ok=True)
    with duckdb.connect() as con:
        load_extension(con, "ducklake")
        con.execute(f"ATTACH 'ducklake:{folder / 'lake.ducklake'}' AS lake (DATA_PATH '/')")


def json_nested_deep(folder: Path, db: Path) -> None:
    """An ARC file whose second line is a JSON array nested 100,000 deep (past Python's recursion limit)."""
    lines = (CORPUS / "arc_valid" / "ARC-Challenge-Test.jsonl").read_text().splitlines()
    lines[1] = "[" * 100_000 + "]" * 100_000
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "ARC-Challenge-Test.jsonl").write_text("\n".join(lines) + "\n")


def json_array_nested_deep(folder: Path, db: Path) -> None:
    """A spec's JSON-array data file nested 100,000 deep."""
    shutil.copy(CORPUS / "spec_bad_template" / "quiz.yaml", folder / "quiz.yaml")
    (folder / "quiz.yaml").write_text((folder / "quiz.yaml").read_text().replace("{{ question", "{{question}}"))
    (folder / "quiz.jsonl").write_text("[" * 100_000 + "]" * 100_000)


def choice_of_150k_tokens(folder: Path, db: Path) -> None:
    """A spec row whose second choice is 600,000 characters (about 150,000 tokens): under the field limit."""
    rows = (folder / "quiz.jsonl").read_text().splitlines()
    rows[1] = (
        '{"id": "q2", "question": "Which planet is red?", "choices": ["Mars", "'
        + "Venus " * 100_000
        + '"], "answer": 0}'
    )
    (folder / "quiz.jsonl").write_text("\n".join(rows) + "\n")


def fifo_labels(folder: Path, db: Path) -> None:
    """PIQA's labels file as a named pipe (reading it would block forever)."""
    os.mkfifo(folder / "dev-labels.lst")


def fifo_data_file(folder: Path, db: Path) -> None:
    """A spec's data file as a named pipe."""
    (folder / "quiz.jsonl").unlink()
    os.mkfifo(folder / "quiz.jsonl")


def sqlite_warehouse(folder: Path, db: Path) -> None:
    """A SQLite database where a warehouse is expected."""
    folder.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(folder / "warehouse.sqlite") as con:
        con.execute("CREATE TABLE items (item_id TEXT)")


def newer_schema_warehouse(folder: Path, db: Path) -> None:
    """A warehouse a newer toolkit has migrated to schema version 99."""
    folder.mkdir(parents=True, exist_ok=True)
    assert CliRunner().invoke(main, ["ingest", "demo", "--db", str(folder / "warehouse.duckdb")]).exit_code == 0
    with duckdb.connect(str(folder / "warehouse.duckdb")) as con:
        con.execute("INSERT INTO schema_migrations VALUES (99, '0099_future.sql', now()::TIMESTAMP)")


def _damage(db: Path, offset: int) -> None:
    with db.open("r+b") as handle:
        handle.seek(offset)
        handle.write(b"\xde\xad" * 2000)


def damaged_catalog_block(folder: Path, db: Path) -> None:
    """The demo warehouse with its first block (the catalog DuckDB reads on opening) overwritten."""
    assert CliRunner().invoke(main, ["ingest", "demo", "--db", str(db)]).exit_code == 0
    _damage(db, 20_000)


def damaged_data_block(folder: Path, db: Path) -> None:
    """The demo warehouse with a block of table data overwritten: it opens, and a write fails midway."""
    assert CliRunner().invoke(main, ["ingest", "demo", "--db", str(db)]).exit_code == 0
    _damage(db, 536_576)


def fifo_warehouse(folder: Path, db: Path) -> None:
    """A named pipe where the warehouse file is expected (reading it would block forever)."""
    folder.mkdir(parents=True, exist_ok=True)
    os.mkfifo(folder / "warehouse.duckdb")


MAKERS: dict[str, Callable[[Path, Path], None]] = {
    f.__name__: f
    for f in (
        ten_megabyte_field,
        csv_field_over_the_csv_limit,
        symlink_outside,
        sqlite_warehouse,
        newer_schema_warehouse,
        damaged_catalog_block,
        damaged_data_block,
        fifo_warehouse,
        dataset_folder_link_outside,
        dataset_folder_file_link_outside,
        dataset_folder_text_link_outside,
        dataset_folder_readme_names_outside,
        ducklake_catalog_storing_the_root,
        json_nested_deep,
        json_array_nested_deep,
        choice_of_150k_tokens,
        fifo_labels,
        fifo_data_file,
    )
}


def _command(args: list[str], files: Path, db: Path) -> list[str]:
    filled = [a.replace("{files}", str(files)).replace("{corpus}", str(CORPUS)) for a in args]
    return filled if "--db" in filled else [*filled, "--db", str(db)]


def _state(path: Path) -> str | None:
    """The warehouse file's content hash (None when there is none): what `unchanged` compares."""
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None


def _tree(root: Path) -> dict[str, str]:
    """Every file under `root` (the test's folder: inputs, warehouse, caches) and its content hash."""
    return {
        str(path.relative_to(root)): _state(path) or path.stat().st_mode.__str__()
        for path in sorted(root.rglob("*"))
        if not path.is_dir()
    }


def _rows(db: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(sql).fetchall()


def test_the_corpus_has_every_kind_of_bad_input() -> None:
    assert len(CASES) >= 25
    assert len({case["case"] for case in CASES}) == len(CASES)
    for case in CASES:
        assert ("error" in case) != ("rejects" in case), case["case"]
        assert "files" not in case or (CORPUS / case["files"]).is_dir(), case["case"]


@pytest.mark.parametrize("case", CASES, ids=[case["case"] for case in CASES])
def test_bad_input_gives_one_line_or_rejects_naming_the_row(case: dict, tmp_path: Path, db: Path) -> None:
    files = tmp_path / "input" / case["case"]
    if "files" in case:
        shutil.copytree(CORPUS / case["files"], files)
    if "make" in case:
        MAKERS[case["make"]](files, db)
    runner = CliRunner()
    for before in case.get("before", []):
        done = runner.invoke(main, _command(before, files, db))
        assert done.exit_code == 0, done.output
    command = _command(case["run"], files, db)
    warehouse = Path(command[command.index("--db") + 1])
    state, tree = _state(warehouse), _tree(tmp_path)

    result = runner.invoke(main, command, env=case.get("env"))

    assert "Traceback" not in result.output and not isinstance(result.exception, AssertionError)
    if "error" in case:
        errors = [line for line in result.output.splitlines() if line.startswith("error: ")]
        assert result.exit_code == case.get("exit", 1), result.output
        assert len(errors) == 1 and case["error"] in errors[0], result.output
        assert result.output.rstrip("\n").endswith(errors[0])  # nothing printed after the error line
        assert _state(warehouse) == state
        assert _tree(tmp_path) == tree  # nothing written, nothing changed, anywhere
    else:
        assert result.exit_code == 0, result.output
        rejects = dict(_rows(db, "SELECT row_ref, reason FROM ingest_rejects"))
        assert set(rejects) == set(case["rejects"]), rejects
        for row_ref, reason in case["rejects"].items():
            assert reason in rejects[row_ref]
        assert _rows(db, "SELECT count(*) FROM items") == [(case["items"],)]


@pytest.mark.parametrize("variable", ["LIKRA_LOCK_WAIT", "LIKRA_WRITE_RETRIES", "LIKRA_WRITER_POOL_LIMIT"])
def test_a_malformed_number_in_the_environment_does_not_stop_commands_that_do_not_use_it(variable: str) -> None:
    from warehouse_checks import cli_env, run_cli

    # A process of its own: the variables are read as it starts.
    result = run_cli("--help", env=cli_env(**{variable: "abc"}))

    assert result.returncode == 0 and "Usage:" in result.stdout, result.stderr[-2000:]
