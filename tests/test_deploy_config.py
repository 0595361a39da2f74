"""The deploy/ settings load through Dagster's own config validation, without a cluster: the PostgreSQL instance
file, the Celery workers' file and the Kubernetes run config with its GPU request on the model steps."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
DEPLOY = REPO / "deploy"

pytest.importorskip("dagster_k8s", reason="the cluster extra is not installed: pip install -e '.[scale]'")


def _k8s_step_job(run_config: dict, step: str):
    """The Kubernetes Job the executor would create for `step`, built the way its step handler builds it."""
    from dagster_k8s.container_context import K8sContainerContext
    from dagster_k8s.job import DagsterK8sJobConfig, UserDefinedDagsterK8sConfig, construct_dagster_k8s_job

    config = run_config["execution"]["config"]
    context = K8sContainerContext(
        env_secrets=config.get("env_secrets"),
        env_config_maps=config.get("env_config_maps"),
        volumes=config.get("volumes"),
        volume_mounts=config.get("volume_mounts"),
        namespace=config["job_namespace"],
        run_k8s_config=UserDefinedDagsterK8sConfig.from_dict(config.get("step_k8s_config", {})),
    ).merge(
        K8sContainerContext(
            run_k8s_config=UserDefinedDagsterK8sConfig.from_dict(config["per_step_k8s_config"].get(step, {}))
        )
    )
    # What a K8sRunLauncher would contribute: where the instance's dagster.yaml is mounted in the pod.
    job_config = DagsterK8sJobConfig(
        job_image=config["job_image"], dagster_home="/opt/dagster/dagster_home", instance_config_map="likra-instance"
    )
    return construct_dagster_k8s_job(
        job_config=job_config,
        args=["dagster", "api", "execute_step"],
        job_name=f"step-{step}".replace("_", "-"),
        user_defined_k8s_config=context.run_k8s_config,
    )


def test_k8s_run_config_is_valid_for_every_job_and_names_real_steps() -> None:
    from pipelines.cluster.on_k8s import MODEL_STEPS, defs

    run_config = yaml.safe_load((DEPLOY / "k8s" / "run_config.yaml").read_text())
    per_step = run_config["execution"]["config"]["per_step_k8s_config"]
    assert set(per_step) == set(MODEL_STEPS)
    steps: set[str] = set()
    for name in ("ingest", "remine", "refresh", "likra"):
        job = defs.resolve_job_def(name)
        assert job.executor_def.name == "k8s"
        assert dg.validate_run_config(job, run_config)  # raises DagsterInvalidConfigError when it does not fit
        steps |= {op.name for op in job.graph.iterate_op_defs()}  # ops inside graph-backed assets too
    assert set(per_step) <= steps, f"per_step_k8s_config names steps no job has: {set(per_step) - steps}"


def test_k8s_run_config_rejects_a_misspelt_setting() -> None:
    from pipelines.cluster.on_k8s import defs

    run_config = yaml.safe_load((DEPLOY / "k8s" / "run_config.yaml").read_text())
    run_config["execution"]["config"]["job_namspace"] = run_config["execution"]["config"].pop("job_namespace")
    with pytest.raises(dg.DagsterInvalidConfigError, match="job_namspace"):
        dg.validate_run_config(defs.resolve_job_def("refresh"), run_config)


@pytest.mark.parametrize("step", ["base_scores_chunk", "candidate_scores_chunk", "likra_heads", "likra_eval_scores"])
def test_model_steps_ask_for_one_gpu(step: str) -> None:
    run_config = yaml.safe_load((DEPLOY / "k8s" / "run_config.yaml").read_text())
    pod = _k8s_step_job(run_config, step).spec.template.spec
    (container,) = pod.containers
    assert container.resources.limits["nvidia.com/gpu"] == "1"  # Kubernetes quantities are strings
    assert [m.mount_path for m in container.volume_mounts if m.name == "shared"] == ["/shared"]
    assert any(t.key == "nvidia.com/gpu" for t in pod.tolerations)


def test_other_steps_ask_for_no_gpu() -> None:
    run_config = yaml.safe_load((DEPLOY / "k8s" / "run_config.yaml").read_text())
    (container,) = _k8s_step_job(run_config, "items").spec.template.spec.containers
    assert "nvidia.com/gpu" not in container.resources.limits
    assert container.resources.requests["cpu"] == "1"


def test_celery_worker_file_validates_against_the_executor_schema(monkeypatch: pytest.MonkeyPatch) -> None:
    from dagster_celery.cli import get_validated_config

    monkeypatch.setenv("LIKRA_CELERY_BROKER", "redis://queue:6379/0")
    monkeypatch.setenv("LIKRA_CELERY_BACKEND", "redis://queue:6379/1")
    config = get_validated_config(str(DEPLOY / "celery.yaml"))
    assert (config["broker"], config["backend"]) == ("redis://queue:6379/0", "redis://queue:6379/1")


def test_instance_file_keeps_runs_events_and_schedules_in_postgres(
    postgres, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dagster_postgres import PostgresEventLogStorage, PostgresRunStorage, PostgresScheduleStorage

    from pipelines.defs.resources import WAREHOUSE_POOL

    home = tmp_path / "dagster-home"
    home.mkdir()
    (home / "dagster.yaml").write_text((DEPLOY / "dagster.yaml").read_text())
    for name, value in instance_env(postgres, tmp_path).items():
        monkeypatch.setenv(name, value)
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert isinstance(instance.run_storage, PostgresRunStorage)
        assert isinstance(instance.event_log_storage, PostgresEventLogStorage)
        assert isinstance(instance.schedule_storage, PostgresScheduleStorage)
        assert instance.get_concurrency_config().pool_config.default_pool_limit == 4
        # The writer pool's slots live in PostgreSQL: every machine of the instance sees the same limit.
        instance.event_log_storage.set_concurrency_slots(WAREHOUSE_POOL, 2)
    with dg.DagsterInstance.from_config(str(home)) as again:
        assert again.event_log_storage.get_concurrency_info(WAREHOUSE_POOL).slot_count == 2


def instance_env(postgres, folder: Path) -> dict[str, str]:
    """The variables deploy/dagster.yaml reads, for a fresh database on the test server and folders under `folder`."""
    settings = dict(part.split("=", 1) for part in postgres.database("dagster").split())
    return {
        "DAGSTER_PG_HOST": settings["host"],
        "DAGSTER_PG_PORT": settings["port"],
        "DAGSTER_PG_DB": settings["dbname"],
        "DAGSTER_PG_USER": settings["user"],
        "DAGSTER_PG_PASSWORD": "unused-trust-auth",
        "LIKRA_DAGSTER_SHARED": str(folder / "dagster-shared"),
        "LIKRA_DAGSTER_LOGS": str(folder / "dagster-logs"),
    }
