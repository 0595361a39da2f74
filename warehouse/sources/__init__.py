"""Benchmark sources: one adapter per built-in benchmark family, plus declarative specs for any other."""

from __future__ import annotations

import difflib
from importlib import resources
from pathlib import Path

import duckdb

from warehouse.errors import UnknownBenchmarkError
from warehouse.sources.arc import ArcChallenge, ArcEasy
from warehouse.sources.base import Benchmark, LocalFile, SourceRow
from warehouse.sources.commonsenseqa import CommonsenseQA
from warehouse.sources.hellaswag import HellaSwag
from warehouse.sources.mmlu import Mmlu
from warehouse.sources.openbookqa import OpenBookQA
from warehouse.sources.piqa import Piqa
from warehouse.sources.spec import SpecBenchmark, load_spec, parse_spec
from warehouse.sources.truthfulqa import TruthfulQAMC1, TruthfulQAMC2
from warehouse.sources.winogrande import Winogrande

__all__ = [
    "Benchmark",
    "LocalFile",
    "SourceRow",
    "SpecBenchmark",
    "builtin_benchmarks",
    "demo_benchmark",
    "get_benchmark",
    "load_spec",
    "registered_specs",
]


def demo_benchmark() -> SpecBenchmark:
    """The bundled 40-question demo set, defined by the spec shipped beside it."""
    folder = Path(str(resources.files("warehouse.demo")))
    spec_path = folder / "demo.yaml"
    benchmark = SpecBenchmark(parse_spec(spec_path.read_text(encoding="utf-8"), "bundled demo.yaml"), folder)
    benchmark.title = "Demo: 40 science and common-sense questions bundled with the toolkit"
    return benchmark


def builtin_benchmarks() -> dict[str, Benchmark]:
    """Every built-in benchmark by name, the bundled demo included."""
    adapters: list[Benchmark] = [
        ArcChallenge(),
        ArcEasy(),
        HellaSwag(),
        Mmlu(),
        OpenBookQA(),
        CommonsenseQA(),
        Piqa(),
        Winogrande(),
        TruthfulQAMC1(),
        TruthfulQAMC2(),
        demo_benchmark(),
    ]
    return {adapter.name: adapter for adapter in adapters}


def registered_specs(con: duckdb.DuckDBPyConnection | None) -> dict[str, SpecBenchmark]:
    """Benchmarks users added with `likra ingest --spec`, as stored in the warehouse."""
    if con is None:
        return {}
    rows = con.execute("SELECT benchmark, spec_yaml, spec_dir FROM benchmark_specs ORDER BY benchmark").fetchall()
    return {
        name: SpecBenchmark(parse_spec(text, f"registered spec {name!r}"), Path(spec_dir), yaml_text=text)
        for name, text, spec_dir in rows
    }


def get_benchmark(name: str, con: duckdb.DuckDBPyConnection | None = None) -> Benchmark:
    """A built-in or registered benchmark by name; an unknown name lists the known ones."""
    known: dict[str, Benchmark] = {**registered_specs(con), **builtin_benchmarks()}
    if name in known:
        return known[name]
    close = difflib.get_close_matches(name, list(known), n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise UnknownBenchmarkError(
        f"unknown benchmark {name!r}.{hint} Known: {', '.join(sorted(known))}. "
        "Add another one with `likra ingest --spec SPEC.yaml`."
    )
