"""A folder of benchmark files, as the benchmark-files sensor watches it.

    benchmarks/
      arc_challenge/          one subfolder of release files per built-in benchmark
      piqa/                   (laid out as ../shared/data/benchmarks)
      my_quiz.yaml            a spec for any other multiple-choice file (lm-eval task keys);
      my_quiz.jsonl           its data files, named in the spec relative to it

Each benchmark found gets a content fingerprint that changes when any of its files does (for a
spec: the spec itself, its data files and its labels files).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from warehouse.errors import SourceFormatError, SpecError
from warehouse.sources import builtin_benchmarks
from warehouse.sources.spec import SpecBenchmark, load_spec

SPEC_PATTERNS = ("*.yaml", "*.yml")


@dataclass(frozen=True)
class WatchedBenchmark:
    """A benchmark in the folder: where to ingest it from, and the files its fingerprint covers."""

    name: str
    files: tuple[tuple[str, Path], ...]  # (name in the fingerprint, file)
    path: Path | None = None  # a built-in benchmark's folder of release files
    spec: Path | None = None  # a spec file (which names its own data files)

    def fingerprint(self) -> str:
        """Content hash of the files (names and bytes): it changes when any of them does."""
        digest = hashlib.sha256()
        for name, file in self.files:
            digest.update(name.encode())
            digest.update(hashlib.sha256(file.read_bytes()).digest())
        return digest.hexdigest()[:16]


@dataclass
class BenchmarkCollection:
    """Every benchmark found in the folder, and the spec files that could not be used, with why."""

    benchmarks: dict[str, WatchedBenchmark] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


def _folder_files(folder: Path) -> tuple[tuple[str, Path], ...]:
    return tuple((str(p.relative_to(folder)), p) for p in sorted(folder.rglob("*")) if p.is_file())


def _spec_files(spec_path: Path, benchmark: SpecBenchmark) -> tuple[tuple[str, Path], ...]:
    files = [(spec_path.name, spec_path)]
    if benchmark.spec.is_local:  # a hub spec's data lives on the hub: only the spec itself is watched
        for local in benchmark.local_files(None):
            files.append((f"{local.split}:{local.path.name}", local.path))
            files += [(f"{local.split}:{key}:{extra.name}", extra) for key, extra in sorted(local.extras.items())]
    return tuple(files)


def scan_collection(root: Path) -> BenchmarkCollection:
    """The benchmarks in `root`: built-ins by their folder of release files, any other by its spec file.

    Files are listed, not read: fingerprints are computed on request.
    """
    builtin_folders = {name: benchmark.folder_in(root) for name, benchmark in builtin_benchmarks().items()}
    found = BenchmarkCollection()
    for name, folder in builtin_folders.items():
        if folder.is_dir():
            found.benchmarks[name] = WatchedBenchmark(name, _folder_files(folder), path=folder)
    specs = sorted({p for pattern in SPEC_PATTERNS for p in root.glob(pattern) if p.is_file()})
    for spec_path in specs:
        try:
            benchmark = load_spec(spec_path)
            if benchmark.name in builtin_folders:
                raise SpecError(f"task {benchmark.name!r} is a built-in benchmark; choose another task name")
            if benchmark.name in found.benchmarks:
                raise SpecError(
                    f"task {benchmark.name!r} is also defined by {found.benchmarks[benchmark.name].spec.name}"
                )
            files = _spec_files(spec_path, benchmark)
        except (SpecError, SourceFormatError, OSError) as exc:
            found.problems.append(f"{spec_path.name}: {exc}")
            continue
        found.benchmarks[benchmark.name] = WatchedBenchmark(benchmark.name, files, spec=spec_path)
    return found
