"""Benchmarks partition every per-benchmark asset: the built-ins plus any registered through a spec."""

import dagster as dg

benchmark_partitions = dg.DynamicPartitionsDefinition(name="benchmark")
