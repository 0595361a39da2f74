"""Benchmarks partition every per-benchmark asset: the built-ins plus any registered through a spec."""

from typing import Any

import dagster as dg

from pipelines.defs.resources import WAREHOUSE_POOL

benchmark_partitions = dg.DynamicPartitionsDefinition(name="benchmark")


def benchmark_asset(group: str, *, writer: bool = False, **asset_args: Any) -> Any:
    """`dg.asset` for one benchmark partition of stage `group`. A `writer` takes a slot of the warehouse pool, so
    the writers of one warehouse run one at a time while the model steps run beside them."""
    pool = WAREHOUSE_POOL if writer else None
    return dg.asset(partitions_def=benchmark_partitions, group_name=group, pool=pool, **asset_args)
