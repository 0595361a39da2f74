"""The cluster setting end to end on one machine: the deploy/ Dagster instance on a real PostgreSQL, a real Redis
broker, two `dagster-celery` worker processes, and a DuckLake warehouse on PostgreSQL. Several `items` partitions
are materialised by concurrent `dagster asset materialize` runs; their steps run on both workers."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest
from test_deploy_config import DEPLOY, instance_env
from warehouse_checks import dagster_materialize, run_cli, start_in_session

from pipelines.defs.partitions import benchmark_partitions
from warehouse.db import connect_read_only

pytestmark = pytest.mark.slow
pytest.importorskip("dagster_celery", reason="the cluster extra is not installed: pip install -e '.[scale]'")

REPO = Path(__file__).resolve().parents[1]
PARTITIONS = ["demo", "arc_challenge", "arc_easy", "openbookqa"]
WORKERS = ["w1", "w2"]
START_LIMIT = 120  # seconds; safety limits only, nothing asserts on speed
RUN_LIMIT = 420


def _stop(process: subprocess.Popen) -> None:
    """SIGTERM to the process group (the CLI and the celery worker it started), SIGKILL if it lingers."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    except ProcessLookupError:
        pass


@pytest.fixture()
def cluster(postgres, redis, lake_pg: str, samples: Path, tmp_path: Path) -> Iterator[dict[str, str]]:
    """DAGSTER_HOME with deploy/dagster.yaml, and two Celery workers (one process each) on the test Redis; yields
    the environment runs need."""
    home = tmp_path / "dagster-home"
    home.mkdir()
    (home / "dagster.yaml").write_text((DEPLOY / "dagster.yaml").read_text())
    env = {
        **os.environ,
        **instance_env(postgres, tmp_path),
        "DAGSTER_HOME": str(home),
        "LIKRA_DB": lake_pg,
        "LIKRA_BENCHMARKS_DIR": str(samples),
        "LIKRA_CELERY_BROKER": redis.url(0),
        "LIKRA_CELERY_BACKEND": redis.url(1),
        "HF_HUB_OFFLINE": "1",
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
        "PYTHONPATH": os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p),
    }
    # The writer pool sized for DuckLake on PostgreSQL, stored in the instance: writing steps may run concurrently.
    done = run_cli("warehouse", "pool", env=env, cwd=tmp_path, timeout=START_LIMIT)
    assert done.returncode == 0 and "4 writing steps at once" in done.stdout, done.stdout + done.stderr
    workers: list[subprocess.Popen] = []
    try:
        for name in WORKERS:
            with (tmp_path / f"{name}.log").open("w") as log:
                workers.append(
                    start_in_session(
                        [
                            str(Path(sys.executable).parent / "dagster-celery"),
                            "worker",
                            "start",
                            "-A",
                            "dagster_celery.app",
                            "-y",
                            str(DEPLOY / "celery.yaml"),
                            "-n",
                            name,
                            "--",
                            "--concurrency=1",
                        ],
                        log,
                        cwd=tmp_path,
                        env=env,
                    )
                )
        deadline = time.monotonic() + START_LIMIT
        while not all(" ready." in (tmp_path / f"{name}.log").read_text() for name in WORKERS):
            for name, worker in zip(WORKERS, workers):
                if worker.poll() is not None:
                    pytest.fail(f"worker {name} exited: {(tmp_path / f'{name}.log').read_text()[-3000:]}")
            if time.monotonic() > deadline:
                pytest.fail("the Celery workers did not become ready")
            time.sleep(1)
        yield env
    finally:
        for worker in workers:
            _stop(worker)


def _celery_workers(instance: dg.DagsterInstance, run_id: str) -> list[str]:
    """The Celery worker (its node name without the host) of every step of the run, from the event log."""
    found = []
    for record in instance.all_logs(run_id, of_type=dg.DagsterEventType.ENGINE_EVENT):
        metadata = record.dagster_event.engine_event_data.metadata
        if "Celery worker" in metadata:
            found.append(metadata["Celery worker"].value.partition("@")[0])
    return found


def _step_spans(instance: dg.DagsterInstance, run_id: str) -> list[tuple[float, float]]:
    """(start, end) timestamps of the run's steps."""
    starts = {r.step_key: r.timestamp for r in instance.all_logs(run_id, of_type=dg.DagsterEventType.STEP_START)}
    ends = {r.step_key: r.timestamp for r in instance.all_logs(run_id, of_type=dg.DagsterEventType.STEP_SUCCESS)}
    return [(starts[k], ends[k]) for k in starts if k in ends]


def _most_at_once(spans: list[tuple[float, float]]) -> int:
    """The largest number of spans open at one instant."""
    edges = sorted([(start, 1) for start, _ in spans] + [(end, -1) for _, end in spans])
    running = most = 0
    for _, step in edges:
        running += step
        most = max(most, running)
    return most


def test_items_partitions_run_on_both_celery_workers(
    cluster: dict[str, str], lake_pg: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name in ("DAGSTER_HOME", *(k for k in cluster if k.startswith(("DAGSTER_PG_", "LIKRA_DAGSTER_")))):
        monkeypatch.setenv(name, cluster[name])
    with dg.DagsterInstance.get() as instance:
        instance.add_dynamic_partitions(benchmark_partitions.name, PARTITIONS)
    started = time.monotonic()
    runs = {}
    for partition in PARTITIONS:  # concurrent runs, as a backfill or several users would start them
        log = (tmp_path / f"run-{partition}.log").open("w")
        command = dagster_materialize("pipelines.cluster.on_celery", ["items"], partition)
        runs[partition] = (start_in_session(command, log, cwd=tmp_path, env=cluster), log)
    try:
        for partition, (process, log) in runs.items():
            assert process.wait(timeout=RUN_LIMIT) == 0, (tmp_path / f"run-{partition}.log").read_text()[-4000:]
            log.close()
    finally:
        for process, _ in runs.values():
            if process.poll() is None:
                _stop(process)
    elapsed = time.monotonic() - started

    with dg.DagsterInstance.get() as instance:
        records = instance.get_run_records()
        assert sorted(r.dagster_run.tags["dagster/partition"] for r in records) == sorted(PARTITIONS)
        assert all(r.dagster_run.status == dg.DagsterRunStatus.SUCCESS for r in records)
        per_worker = Counter(w for r in records for w in _celery_workers(instance, r.dagster_run.run_id))
        materialised = instance.get_materialized_partitions(dg.AssetKey("items"))
        at_once = _most_at_once([s for r in records for s in _step_spans(instance, r.dagster_run.run_id)])
    # Timing on a loaded machine decides whether two writers overlapped; it is reported, not asserted.
    print(
        f"{len(PARTITIONS)} items partitions through Celery in {elapsed:.1f} s; steps per worker: "
        f"{dict(per_worker)}; writing steps at once: up to {at_once}"
    )
    assert set(per_worker) == set(WORKERS), f"steps ran on {dict(per_worker)}"
    assert sum(per_worker.values()) == len(PARTITIONS)  # one step per run
    assert materialised == set(PARTITIONS)
    with connect_read_only(lake_pg) as con:
        counts = dict(con.execute("SELECT benchmark, count(*) FROM items GROUP BY ALL").fetchall())
        assert con.execute("SELECT count(*) - count(DISTINCT item_id) FROM items").fetchone() == (0,)
    assert set(counts) == set(PARTITIONS) and all(counts.values())
