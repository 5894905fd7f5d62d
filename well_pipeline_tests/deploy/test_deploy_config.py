"""The deployment files of deploy/ load as Dagster itself loads them (issue 12, item 5).

Each instance file (the default launcher, Docker, Kubernetes) is validated by Dagster's instance schema
(`dagster_instance_config`) and each pluggable class it names (storages, run coordinator, run launcher) by that
class's own `config_type()`, the check Dagster runs when an instance starts: a misspelled key, a wrong type or a
missing variable fails here instead of at the first start on a server. The Helm values cannot be checked against
the chart here (no helm, no chart): they are checked for the keys the chart's values schema names and for holding
the same limits as the instance file (what the chart renders from them is UNCONFIRMED, see deploy/k8s/values.yaml).
"""

from __future__ import annotations

import copy
import importlib
from pathlib import Path
from typing import Any

import pytest
import yaml
from dagster._config import process_config
from dagster._core.instance.config import ConcurrencyConfig, dagster_instance_config
from dagster._core.run_coordinator.queued_run_coordinator import QueuedRunCoordinator
from dagster._core.workspace.config_schema import WORKSPACE_CONFIG_SCHEMA

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
INSTANCE_FILES = {
    "default": DEPLOY / "dagster.yaml",
    "docker": DEPLOY / "docker" / "dagster.yaml",
    "k8s": DEPLOY / "k8s" / "dagster.yaml",
}
LAUNCHERS = {"default": "DefaultRunLauncher", "docker": "DockerRunLauncher", "k8s": "K8sRunLauncher"}
PLUGGABLE = ("run_storage", "event_log_storage", "schedule_storage", "run_coordinator", "run_launcher")
PG_VARIABLES = ("DAGSTER_PG_HOST", "DAGSTER_PG_PORT", "DAGSTER_PG_USER", "DAGSTER_PG_DB", "DAGSTER_PG_PASSWORD")
WORKSPACE_LIMIT = {"key": "well/workspace", "value": {"applyLimitPerUniqueValue": True}, "limit": 1}


@pytest.fixture
def pg_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in zip(PG_VARIABLES, ("db.internal", "5432", "dagster", "dagster", "not-a-real-password"),
                           strict=True):
        monkeypatch.setenv(name, value)


def load_instance(path: Path) -> dict[str, Any]:
    """The instance config as Dagster validates it at start (schema and conflicts), with defaults filled in."""
    config, instance_class = dagster_instance_config(str(path.parent), path.name)
    assert instance_class is None
    return dict(config)


def pluggable_class(entry: dict[str, Any]) -> type:
    return getattr(importlib.import_module(entry["module"]), entry["class"])


def processed(entry: dict[str, Any]) -> dict[str, Any]:
    """`entry`'s config as its class's `config_type()` reads it, environment variables resolved; fails if refused."""
    result = process_config(pluggable_class(entry).config_type(), entry.get("config") or {})
    assert result.success, f"{entry['module']}.{entry['class']}: {[e.message for e in result.errors]}"
    return dict(result.value)


def raw_yaml(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


@pytest.mark.usefixtures("pg_environment")
@pytest.mark.parametrize("variant", sorted(INSTANCE_FILES))
def test_each_instance_file_passes_dagsters_own_validation(variant: str) -> None:
    config = load_instance(INSTANCE_FILES[variant])
    classes = {key: pluggable_class(config[key]).__name__ for key in PLUGGABLE}
    assert classes == {"run_storage": "PostgresRunStorage", "event_log_storage": "PostgresEventLogStorage",
                       "schedule_storage": "PostgresScheduleStorage", "run_coordinator": "QueuedRunCoordinator",
                       "run_launcher": LAUNCHERS[variant]}
    values = {key: processed(config[key]) for key in PLUGGABLE}
    for storage in ("run_storage", "event_log_storage", "schedule_storage"):
        assert values[storage]["postgres_db"] == {
            "hostname": "db.internal", "port": 5432, "username": "dagster", "password": "not-a-real-password",
            "db_name": "dagster", "params": {}, "scheme": "postgresql+psycopg2"}
    assert values["run_coordinator"]["dequeue_use_threads"] is True
    assert config["sensors"] == {"use_threads": True, "num_workers": 8}


@pytest.mark.usefixtures("pg_environment")
@pytest.mark.parametrize("variant", sorted(INSTANCE_FILES))
def test_one_run_per_workspace_at_a_time_and_workspaces_in_parallel(variant: str) -> None:
    """The limits as the queue reads them: the coordinator's own config merged with `concurrency` (Dagster's code)."""
    config = load_instance(INSTANCE_FILES[variant])
    coordinator = QueuedRunCoordinator.from_config_value(None, processed(config["run_coordinator"]))
    limits = ConcurrencyConfig.from_concurrency_settings(config["concurrency"], coordinator.get_run_queue_config())
    assert limits.run_queue_config is not None
    assert list(limits.run_queue_config.tag_concurrency_limits) == [WORKSPACE_LIMIT]
    assert limits.run_queue_config.max_concurrent_runs == 8
    assert limits.pool_config.default_pool_limit == 1  # every writer of workspace X is in pool well__X


@pytest.mark.usefixtures("pg_environment")
@pytest.mark.parametrize("variant", ["docker", "k8s"])
def test_the_launcher_variants_differ_from_the_default_in_the_run_launcher_only(variant: str) -> None:
    base, other = raw_yaml(INSTANCE_FILES["default"]), raw_yaml(INSTANCE_FILES[variant])
    assert {k: v for k, v in other.items() if k != "run_launcher"} == \
        {k: v for k, v in base.items() if k != "run_launcher"}
    assert other["run_launcher"] != base["run_launcher"]


@pytest.mark.usefixtures("pg_environment")
@pytest.mark.parametrize("variant", sorted(INSTANCE_FILES))
def test_a_misspelled_launcher_key_is_refused_by_the_same_validation(variant: str, tmp_path: Path) -> None:
    """The validation above is not vacuous: one unknown key in the run launcher's config fails it."""
    broken = copy.deepcopy(raw_yaml(INSTANCE_FILES[variant]))
    broken["run_launcher"]["config"] = {**(broken["run_launcher"].get("config") or {}), "netwrok": "well"}
    (tmp_path / "dagster.yaml").write_text(yaml.safe_dump(broken), encoding="utf-8")
    entry = load_instance(tmp_path / "dagster.yaml")["run_launcher"]
    result = process_config(pluggable_class(entry).config_type(), entry["config"])
    assert not result.success
    assert "netwrok" in " ".join(error.message for error in result.errors)


@pytest.mark.parametrize("variant", sorted(INSTANCE_FILES))
def test_the_database_password_comes_from_the_environment_only(variant: str, pg_environment: None,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    text = INSTANCE_FILES[variant].read_text(encoding="utf-8")
    assert "not-a-real-password" not in text
    storage = load_instance(INSTANCE_FILES[variant])["run_storage"]
    assert storage["config"]["postgres_db"]["password"] == {"env": "DAGSTER_PG_PASSWORD"}
    monkeypatch.delenv("DAGSTER_PG_PASSWORD")
    result = process_config(pluggable_class(storage).config_type(), storage["config"])
    assert not result.success and "DAGSTER_PG_PASSWORD" in " ".join(e.message for e in result.errors)


def test_the_workspace_file_points_at_one_grpc_server_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WELL_CODE_SERVER_HOST", "code.internal")
    monkeypatch.setenv("WELL_CODE_SERVER_PORT", "4000")
    result = process_config(WORKSPACE_CONFIG_SCHEMA, raw_yaml(DEPLOY / "workspace.yaml"))
    assert result.success, [e.message for e in result.errors]
    assert result.value["load_from"] == [{"grpc_server": {"host": "code.internal", "port": 4000,
                                                          "location_name": "well_pipeline"}}]


# -- Helm chart values (deploy/k8s/values.yaml) -------------------------------------------------------------------
# The keys the chart's values schema (helm/dagster/schema: K8sRunLauncherConfig, UserDeployment, PostgreSQL, Daemon,
# Concurrency) requires or reads; Well's values must name each of them where the chart looks.
CHART_K8S_LAUNCHER_REQUIRED = {"imagePullPolicy", "loadInclusterConfig", "envConfigMaps", "envSecrets", "envVars",
                               "volumeMounts", "volumes"}
CHART_POSTGRESQL_REQUIRED = {"enabled", "postgresqlHost", "postgresqlUsername", "postgresqlPassword",
                             "postgresqlDatabase", "service"}
CHART_USER_DEPLOYMENT_REQUIRED = {"name", "image", "port"}


def helm_values() -> dict[str, Any]:
    return raw_yaml(DEPLOY / "k8s" / "values.yaml")


def test_the_helm_values_name_the_keys_the_chart_reads() -> None:
    values = helm_values()
    launcher = values["runLauncher"]
    assert launcher["type"] == "K8sRunLauncher"
    assert CHART_K8S_LAUNCHER_REQUIRED <= set(launcher["config"]["k8sRunLauncher"])
    assert CHART_POSTGRESQL_REQUIRED <= set(values["postgresql"])
    assert values["postgresql"]["postgresqlPassword"] == ""  # from the Secret global.postgresqlSecretName
    assert values["generatePostgresqlPasswordSecret"] is False and values["global"]["postgresqlSecretName"]
    user = values["dagster-user-deployments"]
    assert user["enabled"] and user["enableSubchart"]
    (deployment,) = user["deployments"]
    assert CHART_USER_DEPLOYMENT_REQUIRED <= set(deployment)
    # `dagster code-server start` (codeServerArgs), not `dagster api grpc` (dagsterApiGrpcArgs): reload re-reads.
    assert "dagsterApiGrpcArgs" not in deployment
    assert deployment["codeServerArgs"][:2] == ["-m", "well_pipeline.definitions"]
    assert deployment["includeConfigInLaunchedRuns"] == {"enabled": True}
    daemon = values["dagsterDaemon"]
    assert daemon["runCoordinator"]["type"] == "QueuedRunCoordinator" and daemon["runCoordinator"]["enabled"]
    assert daemon["sensors"] == {"useThreads": True, "numWorkers": 8}


@pytest.mark.usefixtures("pg_environment")
def test_the_helm_values_hold_the_instance_files_limits() -> None:
    """Limits only in `concurrency` (the chart renders the coordinator's own only when it is disabled): the
    rendered instance would otherwise hold both, which Dagster refuses (validate_concurrency_config)."""
    values, instance = helm_values(), load_instance(INSTANCE_FILES["default"])
    queued = values["dagsterDaemon"]["runCoordinator"]["config"]["queuedRunCoordinator"]
    assert not {"maxConcurrentRuns", "tagConcurrencyLimits"} & set(queued)
    assert queued["dequeueIntervalSeconds"] == instance["run_coordinator"]["config"]["dequeue_interval_seconds"]
    concurrency = values["concurrency"]
    assert concurrency["enabled"] is True
    assert concurrency["runs"]["maxConcurrentRuns"] == instance["concurrency"]["runs"]["max_concurrent_runs"]
    assert concurrency["runs"]["tagConcurrencyLimits"] == [WORKSPACE_LIMIT]
    assert concurrency["pools"]["defaultLimit"] == instance["concurrency"]["pools"]["default_limit"]
    assert values["retention"]["sensor"]["purgeAfterDays"] == instance["retention"]["sensor"]["purge_after_days"]
