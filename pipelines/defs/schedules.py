"""Schedules: re-mine every benchmark partition (weekly by default; $LIKRA_REMINE_CRON overrides)."""

import os

import dagster as dg

from pipelines.defs.jobs import remine_job
from pipelines.defs.partitions import benchmark_partitions

REMINE_CRON = os.environ.get("LIKRA_REMINE_CRON", "0 3 * * 0")  # Sundays 03:00


@dg.schedule(
    job=remine_job,
    cron_schedule=REMINE_CRON,
    default_status=dg.DefaultScheduleStatus.STOPPED,
    description="Re-mine every benchmark partition; unchanged inputs cost only cache lookups.",
)
def remine_schedule(context: dg.ScheduleEvaluationContext) -> list[dg.RunRequest]:
    keys = context.instance.get_dynamic_partitions(benchmark_partitions.name)
    stamp = context.scheduled_execution_time.strftime("%Y%m%dT%H%M")
    return [dg.RunRequest(partition_key=key, run_key=f"remine-{key}-{stamp}") for key in keys]
