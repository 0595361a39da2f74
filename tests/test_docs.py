"""The documentation's shell examples run: every bash block of README.md and docs/*.md, on the demo set.

The README's tour runs first, on an empty warehouse; every other page starts from a copy of the `data/`
folder the tour left (the demo ingested, scored, mined and trained at sizes 8 and 16), so its examples find
what they build on cached (the tour's folder stays for the module: stored checkpoint paths point into it).
A page's blocks run in order, each through bash in the page's own folder, with `$LIKRA_DB` the warehouse
there, `../shared` the benchmark samples and `likra` the venv's entry point.

Three HTML comments, on the lines right before a block, say how it is used:

    <!-- not run: REASON -->   the block cannot run here (a UI, a server, the hub, hours of work)
    <!-- expect: TEXT -->      its output must hold TEXT (repeatable)
    <!-- file: NAME -->        the block is a file the next blocks read: written to the folder as NAME
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import MODEL_CACHE

REPO = Path(__file__).resolve().parents[1]
# The Likra study's pages hold commands that take hours; they are read, not run.
STUDY_PAGES = ("study-plan.md", "reproduction.md", "paper-scale.md")
PAGES = ["README.md"] + [f"docs/{p.name}" for p in sorted((REPO / "docs").glob("*.md")) if p.name not in STUDY_PAGES]
SHELL = ("bash", "sh")
FENCE = re.compile(r"^```(\S*)\s*$")
NOTE = re.compile(r"^<!-- (not run|expect|file): (.*?) -->$")
# A line that is a command: such lines belong in a bash block, which runs or says why not.
COMMAND = re.compile(r"^\s*(\$ |likra |make |python |pip |dagster )")
BLOCK_TIMEOUT_S = 900


@dataclass(frozen=True)
class Block:
    """One fenced block of a page, with the notes right above it."""

    page: str
    line: int
    lang: str
    code: str
    not_run: str | None = None
    expect: tuple[str, ...] = ()
    file: str | None = None

    @property
    def runs(self) -> bool:
        return self.lang in SHELL and self.file is None and self.not_run is None

    def __str__(self) -> str:
        return f"{self.page}:{self.line}"


def read_blocks(page: str) -> tuple[list[Block], list[str]]:
    """The fenced blocks of `page` in order, and the problems found reading it (notes attached to no block)."""
    lines = (REPO / page).read_text(encoding="utf-8").splitlines()
    blocks: list[Block] = []
    problems: list[str] = []
    notes: list[tuple[int, str, str]] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        note = NOTE.match(line)
        fence = FENCE.match(line)
        if note:
            notes.append((i + 1, note.group(1), note.group(2).strip()))
        elif fence:
            end = next((j for j in range(i + 1, len(lines)) if lines[j].startswith("```")), None)
            if end is None:
                problems.append(f"{page}:{i + 1}: a code block that is never closed")
                break
            kinds = {kind: [text for _, k, text in notes if k == kind] for kind in ("not run", "expect", "file")}
            blocks.append(
                Block(
                    page=page,
                    line=i + 1,
                    lang=fence.group(1),
                    code="\n".join(lines[i + 1 : end]) + "\n",
                    not_run=kinds["not run"][0] if kinds["not run"] else None,
                    expect=tuple(kinds["expect"]),
                    file=kinds["file"][0] if kinds["file"] else None,
                )
            )
            notes = []
            i = end
        else:
            problems += [f"{page}:{n}: <!-- {kind}: ... --> is not right before a block" for n, kind, _ in notes]
            notes = []
        i += 1
    problems += [f"{page}:{n}: <!-- {kind}: ... --> is not right before a block" for n, kind, _ in notes]
    return blocks, problems


def shell_env(folder: Path) -> dict[str, str]:
    """The environment a page's blocks run in: its own warehouse and Dagster home, offline, the venv first."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIKRA_") and k != "DAGSTER_HOME"}
    (folder / "dagster").mkdir(exist_ok=True)
    env.update(
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
        LIKRA_DB=str(folder / "data" / "warehouse.duckdb"),
        LIKRA_MODEL_CACHE=str(MODEL_CACHE),
        DAGSTER_HOME=str(folder / "dagster"),
        HF_HUB_OFFLINE="1",
        HF_DATASETS_CACHE=str(folder / "hf-cache"),
    )
    # The examples are small: one thread per process keeps torch from fighting other jobs for the cores.
    env.setdefault("OMP_NUM_THREADS", "1")
    return env


def run_page(page: str, folder: Path) -> dict[Block, str]:
    """Run the page's blocks in order in `folder`; each block's output. A failing block fails the test."""
    blocks, problems = read_blocks(page)
    assert not problems, problems
    env = shell_env(folder)
    outputs: dict[Block, str] = {}
    for block in blocks:
        if block.file is not None:
            (folder / block.file).write_text(block.code, encoding="utf-8")
            continue
        if not block.runs:
            continue
        done = subprocess.run(
            ["bash", "-e", "-o", "pipefail", "-c", block.code],
            cwd=folder,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=BLOCK_TIMEOUT_S,
        )
        assert done.returncode == 0, f"{block} exited {done.returncode}:\n{block.code}\n{done.stdout[-4000:]}"
        for text in block.expect:
            assert text in done.stdout, f"{block}: {text!r} not in its output:\n{done.stdout[-4000:]}"
        outputs[block] = done.stdout
    return outputs


def test_the_readme_stays_short() -> None:
    assert len((REPO / "README.md").read_text(encoding="utf-8").splitlines()) <= 250


def test_every_docs_page_is_linked_from_the_readme() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    unlinked = [p.name for p in (REPO / "docs").glob("*.md") if f"](docs/{p.name})" not in readme]
    assert not unlinked


@pytest.mark.parametrize("page", PAGES)
def test_every_command_block_runs_or_says_why_not(page: str) -> None:
    blocks, problems = read_blocks(page)
    for block in blocks:
        if block.not_run is not None and (block.lang not in SHELL or not block.not_run):
            problems.append(f"{block}: `not run` belongs on a bash block, with its reason")
        if block.expect and not block.runs:
            problems.append(f"{block}: `expect` belongs on a block that runs")
        if block.lang not in SHELL and block.file is None and any(COMMAND.match(x) for x in block.code.splitlines()):
            problems.append(f"{block}: commands in a ```{block.lang} block; make it ```bash so that it runs")
    assert not problems, problems


@pytest.fixture(scope="module")
def docs_root(tmp_path_factory: pytest.TempPathFactory, samples: Path) -> Path:
    """A folder holding `shared`, a link to the samples' shared folder, beside one folder per page."""
    assert (Path(sys.executable).parent / "likra").exists(), "the likra entry point is not installed in the venv"
    root = tmp_path_factory.mktemp("docs")
    (root / "shared").symlink_to(samples.parent.parent, target_is_directory=True)
    return root


@pytest.fixture(scope="module")
def toured(docs_root: Path) -> tuple[Path, dict[Block, str]]:
    """The README's blocks run on an empty warehouse: its folder and each block's output."""
    folder = docs_root / "README"
    folder.mkdir()
    return folder, run_page("README.md", folder)


@pytest.mark.slow
def test_the_readme_tour_runs_on_an_empty_warehouse(toured: tuple[Path, dict[Block, str]]) -> None:
    folder, outputs = toured
    assert (folder / "data" / "warehouse.duckdb").is_file()
    tour = "\n".join(outputs.values())
    assert "demo: 40 items" in tour
    assert "near_miss" in tour


@pytest.mark.slow
@pytest.mark.parametrize("page", [p for p in PAGES if p != "README.md"])
def test_the_examples_of_each_docs_page_run(page: str, docs_root: Path, toured: tuple[Path, dict[Block, str]]) -> None:
    folder = docs_root / Path(page).stem
    shutil.copytree(toured[0] / "data", folder / "data", symlinks=True)
    run_page(page, folder)
