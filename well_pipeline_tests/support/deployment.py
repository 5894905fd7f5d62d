"""Dagster's multi-node deployment (deploy/), started for real on this machine: the harness of the deployment test
and the workspaces benchmark.

Three long-lived processes, as on separate machines, sharing nothing but PostgreSQL and gRPC:
- the code server, `dagster code-server start -m well_pipeline.definitions` (it evaluates the sensors and starts
  each run's worker process: the DefaultRunLauncher), with Well's settings (`WELL_*`) in its environment;
- `dagster-webserver -w deploy/workspace.yaml` and `dagster-daemon run -w deploy/workspace.yaml`, with no `WELL_*`
  variable at all: they reach Well's code only through the code server's port.
Each has its own DAGSTER_HOME holding a copy of deploy/dagster.yaml (as each machine would), and the Dagster
database comes from the `DAGSTER_PG_*` variables that file reads. Dagster's storage is a database of its own on the
test's PostgreSQL server; Well's store (`storage_backend = "postgres"`) uses another database of the same server.

Why real processes and not `dagster dev` or an in-process instance: the point is that nothing but the database and
the gRPC port connects them (no shared folder for Dagster, no shared Python process), as in production.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dagster as dg

from well_pipeline_tests.support.postgres_server import SUPERUSER, PostgresServer
from well_pipeline_tests.support.qonto_sandbox import free_port, port_listening
from well_pipeline_tests.support.waiting import wait_until

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
BIN = Path(sys.executable).parent
LOCATION = "well_pipeline"
REPOSITORY = "__repository__"  # the repository name Dagster gives a `Definitions`
START_TIMEOUT_S = 120
STOP_TIMEOUT_S = 30
# Not a secret: the test cluster trusts loopback connections, so PostgreSQL never checks it. Set because
# deploy/dagster.yaml reads the password from the environment, as a deployment must.
UNCHECKED_PASSWORD = "unchecked-on-a-trust-cluster"
# Daemons whose heartbeat says the daemon is working (the ones Well's deployment relies on).
REQUIRED_DAEMONS = ("SENSOR", "QUEUED_RUN_COORDINATOR")


def create_database(server: PostgresServer, name: str) -> str:
    """A new, empty database on `server` (its DSN); the database name must not exist yet."""
    import psycopg  # the `postgres` extra, installed with the tests

    with psycopg.connect(server.dsn(), autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    return server.dsn(name)


def dagster_pg_environment(server: PostgresServer, database: str) -> dict[str, str]:
    """What deploy/dagster.yaml reads: the Dagster database's connection, its password from the environment."""
    return {"DAGSTER_PG_HOST": "127.0.0.1", "DAGSTER_PG_PORT": str(server.port), "DAGSTER_PG_USER": SUPERUSER,
            "DAGSTER_PG_DB": database, "DAGSTER_PG_PASSWORD": UNCHECKED_PASSWORD}


def _base_environment() -> dict[str, str]:
    """The test's environment without any Well setting or Dagster home (each process gets its own)."""
    return {k: v for k, v in os.environ.items() if not k.startswith("WELL_") and k != "DAGSTER_HOME"}


@contextmanager
def _environ(values: Mapping[str, str]) -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@dataclass
class Process:
    """One long-lived process of the deployment, in a process group of its own (its children die with it)."""

    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path

    def tail(self, lines: int = 30) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def check_alive(self) -> None:
        if self.popen.poll() is not None:
            raise AssertionError(f"{self.name} exited ({self.popen.returncode}):\n{self.tail()}")

    def stop(self) -> None:
        if self.popen.poll() is None:
            os.killpg(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait(10)
        try:  # what the process started and left behind (a run worker), same group
            os.killpg(self.popen.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


@dataclass
class Deployment:
    """A running deployment: its folder, ports, processes and the environment its Dagster processes share."""

    root: Path
    dagster_env: dict[str, str]
    code_server_port: int
    webserver_port: int
    processes: dict[str, Process] = field(default_factory=dict)

    @property
    def ui_url(self) -> str:
        return f"http://127.0.0.1:{self.webserver_port}"

    def home(self, process: str) -> Path:
        return self.root / process / "dagster_home"

    def instance(self) -> dg.DagsterInstance:
        """The same instance, opened by the test as a fourth client of the database (close it, or use `with`)."""
        home = self.root / "test" / "dagster_home"
        if not home.exists():
            _make_home(home)
        with _environ(self.dagster_env):
            return dg.DagsterInstance.from_config(str(home))

    def graphql(self, query: str, variables: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """One GraphQL request to the webserver (what the UI does); the `data` of the answer."""
        body = json.dumps({"query": query, "variables": dict(variables or {})}).encode()
        request = urllib.request.Request(f"{self.ui_url}/graphql", data=body,
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                answer = json.loads(response.read())
        except urllib.error.HTTPError as exc:  # GraphQL errors come with a 4xx/5xx: show them
            raise AssertionError(f"GraphQL {exc.code}: {exc.read()[:2000]!r}") from None
        assert not answer.get("errors"), answer["errors"]
        return answer["data"]

    def sensor_statuses(self) -> dict[str, str]:
        """Every sensor of the code location with its status (RUNNING / STOPPED), as the webserver reports it."""
        data = self.graphql(_SENSORS_QUERY, {"selector": _repository_selector()})
        sensors = data["sensorsOrError"]
        assert "results" in sensors, sensors
        return {s["name"]: s["sensorState"]["status"] for s in sensors["results"]}

    def start_sensor(self, name: str) -> None:
        """Turn a sensor on through the webserver (the UI's toggle), unless it already runs."""
        if self.sensor_statuses().get(name) == "RUNNING":
            return
        data = self.graphql(_START_SENSOR, {"selector": {**_repository_selector(), "sensorName": name}})
        result = data["startSensor"]
        assert result.get("sensorState", {}).get("status") == "RUNNING", result

    def launch_job(self, job_name: str) -> str:
        """Launch a run of `job_name` through the webserver (the UI's Launchpad); its run id. It joins the queue."""
        params = {"selector": {**_repository_selector(), "jobName": job_name}, "runConfigData": {}}
        result = self.graphql(_LAUNCH_RUN, {"params": params})["launchRun"]
        assert result["__typename"] == "LaunchRunSuccess", result
        return result["run"]["runId"]

    def reload_code_location(self) -> None:
        """The UI's "Reload" of the code location: under `dagster code-server start`, the server restarts its
        subprocess, which loads the definitions again (a new workspace file included)."""
        result = self.graphql(_RELOAD, {"name": LOCATION})["reloadRepositoryLocation"]
        assert result["__typename"] == "WorkspaceLocationEntry", result

    def check_alive(self) -> None:
        for process in self.processes.values():
            process.check_alive()

    def logs(self, lines: int = 30) -> str:
        return "\n".join(f"--- {name} ---\n{process.tail(lines)}" for name, process in self.processes.items())

    def stop(self) -> None:
        """Daemon first (no new run), then the webserver, then the code server (and the run workers it started)."""
        for name in ("daemon", "webserver", "code_server"):
            if name in self.processes:
                self.processes[name].stop()
        ports = (self.code_server_port, self.webserver_port)
        wait_until(lambda: not any(port_listening(port) for port in ports), STOP_TIMEOUT_S,
                   "the deployment's ports to close")


_SENSORS_QUERY = """
query Sensors($selector: RepositorySelector!) {
  sensorsOrError(repositorySelector: $selector) {
    ... on Sensors { results { name sensorState { status } } }
    ... on PythonError { message }
    ... on RepositoryNotFoundError { message }
  }
}"""

_START_SENSOR = """
mutation Start($selector: SensorSelector!) {
  startSensor(sensorSelector: $selector) {
    ... on Sensor { sensorState { status } }
    ... on PythonError { message }
    ... on SensorNotFoundError { message }
    ... on UnauthorizedError { message }
  }
}"""


_LAUNCH_RUN = """
mutation Launch($params: ExecutionParams!) {
  launchRun(executionParams: $params) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on PythonError { message }
    ... on InvalidSubsetError { message }
    ... on RunConfigValidationInvalid { errors { message } }
    ... on PipelineNotFoundError { message }
    ... on UnauthorizedError { message }
  }
}"""


_RELOAD = """
mutation Reload($name: String!) {
  reloadRepositoryLocation(repositoryLocationName: $name) {
    __typename
    ... on PythonError { message }
  }
}"""


def _repository_selector() -> dict[str, str]:
    return {"repositoryLocationName": LOCATION, "repositoryName": REPOSITORY}


def _make_home(home: Path) -> Path:
    """A DAGSTER_HOME holding a copy of deploy/dagster.yaml, as each machine of a deployment has."""
    home.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(DEPLOY / "dagster.yaml", home / "dagster.yaml")
    return home


def _spawn(name: str, command: list[str], env: dict[str, str], folder: Path) -> Process:
    folder.mkdir(parents=True, exist_ok=True)
    log_path = folder / f"{name}.log"
    with log_path.open("wb") as log:
        popen = subprocess.Popen(command, cwd=folder, env=env, stdout=log, stderr=subprocess.STDOUT,
                                 start_new_session=True)
    return Process(name, popen, log_path)


def _code_server_loaded(deployment: Deployment) -> bool:
    """The code server answers with the definitions loaded (the proxy answers before its loader is ready)."""
    from dagster._grpc.client import DagsterGrpcClient

    deployment.check_alive()
    try:
        client = DagsterGrpcClient(port=deployment.code_server_port, host="127.0.0.1")
        client.ping("ready?")
        return bool(client.list_repositories())
    except Exception:  # noqa: BLE001 - not up yet: any gRPC error means "ask again"
        return False


def _ui_answers(deployment: Deployment) -> bool:
    deployment.check_alive()
    try:
        with urllib.request.urlopen(f"{deployment.ui_url}/server_info", timeout=2):
            return True
    except OSError:
        return False


def _daemons_beating(deployment: Deployment, instance: dg.DagsterInstance) -> bool:
    deployment.check_alive()
    beats = instance.get_daemon_heartbeats()
    return all(daemon in beats for daemon in REQUIRED_DAEMONS)


def start_deployment(root: Path, server: PostgresServer, well_env: Mapping[str, str], *,
                     dagster_database: str = "dagster") -> Deployment:
    """Create the Dagster database, start the code server, then the webserver and the daemon; return when the
    code is loaded, the UI answers and the daemon's sensor and queue loops beat.

    `well_env`: the `WELL_*` (and secret) variables of the code server, hence of every run worker it starts.
    On any failure, what was started is stopped and the processes' logs are in the error.
    """
    create_database(server, dagster_database)
    dagster_env = dagster_pg_environment(server, dagster_database)
    deployment = Deployment(root, dagster_env, free_port(), free_port())
    # Only the code server's address: the webserver and the daemon know Well's code by its port alone.
    grpc_env = {"WELL_CODE_SERVER_HOST": "127.0.0.1", "WELL_CODE_SERVER_PORT": str(deployment.code_server_port),
                # As scripts/dev.py and docs/deployment.md set it for the processes that create runs.
                "DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS": "1"}
    base = _base_environment()

    def env_for(process: str, extra: Mapping[str, str]) -> dict[str, str]:
        home = _make_home(deployment.home(process))
        return {**base, **dagster_env, **extra, "DAGSTER_HOME": str(home)}

    try:
        deployment.processes["code_server"] = _spawn(
            "code_server",
            [str(BIN / "dagster"), "code-server", "start", "-m", "well_pipeline.definitions", "-h", "127.0.0.1",
             "-p", str(deployment.code_server_port), "--location-name", LOCATION],
            env_for("code_server", {**well_env, **grpc_env}), root / "code_server")
        wait_until(lambda: _code_server_loaded(deployment), START_TIMEOUT_S,
                   lambda: f"the code server to load the definitions:\n{deployment.logs()}")
        workspace = str(DEPLOY / "workspace.yaml")
        deployment.processes["webserver"] = _spawn(
            "webserver",
            [str(BIN / "dagster-webserver"), "-w", workspace, "-h", "127.0.0.1", "-p", str(deployment.webserver_port)],
            env_for("webserver", grpc_env), root / "webserver")
        deployment.processes["daemon"] = _spawn(
            "daemon", [str(BIN / "dagster-daemon"), "run", "-w", workspace],
            env_for("daemon", grpc_env), root / "daemon")
        wait_until(lambda: _ui_answers(deployment), START_TIMEOUT_S,
                   lambda: f"the webserver to answer:\n{deployment.logs()}")
        with deployment.instance() as instance:
            wait_until(lambda: _daemons_beating(deployment, instance), START_TIMEOUT_S,
                       lambda: f"the daemon's heartbeats {REQUIRED_DAEMONS}:\n{deployment.logs()}")
    except BaseException:
        deployment.stop()
        raise
    return deployment
