"""Spec files for tests: a small benchmark described the way users describe their own."""

from __future__ import annotations

from importlib import resources
from pathlib import Path


def quiz_spec(folder: Path, task: str = "quiz") -> Path:
    """A spec file with its data file in `folder`, made from the bundled demo's."""
    demo = Path(str(resources.files("warehouse.demo")))
    (folder / f"{task}.jsonl").write_text((demo / "demo_mcq.jsonl").read_text())
    text = (demo / "demo.yaml").read_text().replace("task: demo", f"task: {task}")
    (folder / f"{task}.yaml").write_text(text.replace("demo_mcq.jsonl", f"{task}.jsonl"))
    return folder / f"{task}.yaml"
