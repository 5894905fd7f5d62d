"""`well workspace add | list | show | remove | move`, `well --workspace`, per-workspace secrets and the region
refusal, on real files and real DuckDB files (well_pipeline/cli/workspace.py, cli/common.py, workspaces.py)."""

from __future__ import annotations

import json
import stat
import tomllib
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner, Result

from well_pipeline.adapters.storage import DuckDBStorage
from well_pipeline.cli.main import cli
from well_pipeline.cli.workspace import masked_dsn
from well_pipeline_tests.support.delivery_records import release_records
from well_pipeline_tests.support.duckdb_lock import lock_held
from well_pipeline_tests.support.postgres_server import PostgresUnavailable, start_server
from well_pipeline_tests.support.postgres_workspace import fill_workspace, region_databases, schema_exists, snapshot
from well_pipeline_tests.support.qonto_sandbox import free_port


class Deployment:
    """A settings file, its `workspaces/` folder beside it and a data_dir, all in one temporary folder."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.settings_file = root / "well.toml"
        self.settings_file.write_text("", encoding="utf-8")
        self.data_dir = root / "data"
        self.workspaces = root / "workspaces"

    def well(self, *args: str, env: dict[str, str] | None = None) -> Result:
        base = {"WELL_DATA_DIR": str(self.data_dir), "WELL_SETTINGS_FILE": str(self.settings_file)}
        result = CliRunner().invoke(cli, list(args), env=base | (env or {}))
        assert result.exception is None or isinstance(result.exception, SystemExit), result.output
        return result

    def ok(self, *args: str, env: dict[str, str] | None = None) -> str:
        result = self.well(*args, env=env)
        assert result.exit_code == 0, result.output
        return result.output

    def refused(self, *args: str, env: dict[str, str] | None = None) -> str:
        result = self.well(*args, env=env)
        assert result.exit_code == 1, result.output
        return " ".join(result.output.split())

    def region_dir(self, region: str, workspace_id: str) -> Path:
        return self.data_dir / "regions" / region / workspace_id

    def store(self, region: str, workspace_id: str) -> DuckDBStorage:
        folder = self.region_dir(region, workspace_id)
        return DuckDBStorage(folder / "well.duckdb", folder / "attachments")


@pytest.fixture
def dep(tmp_path: Path) -> Deployment:
    return Deployment(tmp_path)


def test_the_first_add_keeps_the_default_workspace_and_writes_private_files(dep: Deployment) -> None:
    assert "id=main  name=My company  region=eu" in dep.ok("workspace", "list")
    out = dep.ok("workspace", "add", "acme", "--name", "Acme SAS", "--region", "us",
                 "--set", "melio_inbox_address=acme-ap@invoicesmelio.com", "--set", "auto_link_threshold=0.97")
    assert f"wrote {dep.workspaces / 'main.toml'}" in out and "added workspace acme (Acme SAS)" in out
    for name in ("main.toml", "acme.toml"):
        assert stat.S_IMODE((dep.workspaces / name).stat().st_mode) == 0o600
    acme = tomllib.loads((dep.workspaces / "acme.toml").read_text())
    assert acme == {"workspace": {"id": "acme", "display_name": "Acme SAS"},
                    "settings": {"storage_region": "us", "melio_inbox_address": "acme-ap@invoicesmelio.com",
                                 "auto_link_threshold": 0.97}}
    listed = dep.ok("workspace", "list").splitlines()
    assert listed == [
        f"id=acme  name=Acme SAS  region=us  data={dep.region_dir('us', 'acme')}  inbox=acme-ap@invoicesmelio.com",
        f"id=main  name=My company  region=eu  data={dep.data_dir}  inbox=(not set: delivery is off)"]
    # A second add writes only its own file; an existing id is never overwritten.
    dep.ok("workspace", "add", "globex", "--name", "Globex")
    assert sorted(p.name for p in dep.workspaces.iterdir()) == ["acme.toml", "globex.toml", "main.toml"]
    assert "workspace acme exists already" in dep.refused("workspace", "add", "acme", "--name", "Other")
    assert tomllib.loads((dep.workspaces / "acme.toml").read_text())["workspace"]["display_name"] == "Acme SAS"


def test_add_refuses_what_the_loader_would_refuse_and_writes_nothing(dep: Deployment) -> None:
    assert "setting 'postgres_dsn' is deployment-wide" in dep.refused(
        "workspace", "add", "acme", "--name", "Acme", "--set", "postgres_dsn=host=x")
    assert "unknown storage_region 'mars'" in dep.refused("workspace", "add", "acme", "--name", "A", "--region", "mars")
    assert "workspace id 'Acme!' must be" in dep.refused("workspace", "add", "Acme!", "--name", "A")
    assert "setting melio_inbox_address" in dep.refused(
        "workspace", "add", "acme", "--name", "A", "--set", "melio_inbox_address=ap@gmail.com")
    assert not dep.workspaces.exists()


def test_show_prints_the_details(dep: Deployment) -> None:
    dep.ok("workspace", "add", "acme", "--name", "Acme SAS", "--set", "history_start=2024-01-01")
    out = dep.ok("workspace", "show", "acme")
    assert f"file          {dep.workspaces / 'acme.toml'}" in out
    assert f"secrets       {dep.region_dir('eu', 'acme') / 'secrets.enc.json'}" in out
    assert "history_start 2024-01-01" in out
    assert "no workspace 'nope'; the workspaces are: acme, main" in dep.refused("workspace", "show", "nope")


def test_the_dsn_is_shown_without_a_password() -> None:
    assert masked_dsn("host=db password=s3cret user=w") == "host=db password=*** user=w"
    assert masked_dsn("postgresql://well:s3cret@db/well") == "postgresql://well:***@db/well"


def test_several_workspaces_need_a_choice_and_each_reads_its_own_settings(dep: Deployment) -> None:
    dep.ok("workspace", "add", "acme", "--name", "Acme", "--set", "auto_link_threshold=0.97")
    assert "there are 2 workspaces (acme, main): choose one with --workspace ID (or WELL_WORKSPACE)" in \
        dep.refused("settings")
    assert "auto_link_threshold = 0.97" in dep.ok("--workspace", "acme", "settings")
    assert f"data_dir = {dep.region_dir('eu', 'acme')}" in dep.ok("-w", "acme", "settings")
    main = dep.ok("settings", env={"WELL_WORKSPACE": "main"})
    assert f"data_dir = {dep.data_dir} " in main and "auto_link_threshold = 0.85 " in main


def test_secrets_are_per_workspace_and_a_bare_variable_is_refused_with_several(dep: Deployment) -> None:
    dep.ok("workspace", "add", "acme", "--name", "Acme")
    dep.ok("-w", "acme", "secrets", "set", "smtp_password", "--value-from-env", "PW", env={"PW": "acme-pw"})
    assert "smtp_password" in dep.ok("-w", "acme", "secrets", "list")
    assert dep.ok("-w", "main", "secrets", "list") == "no secrets stored\n"
    assert (dep.region_dir("eu", "acme") / "secrets.enc.json").exists()
    refused = dep.refused("-w", "main", "secrets", "list", env={"WELL_SECRET_SMTP_PASSWORD": "x"})
    assert "WELL_SECRET_SMTP_PASSWORD is set but there are 2 workspaces (acme, main)" in refused
    assert "WELL_SECRET_MAIN__SMTP_PASSWORD" in refused
    checked = dep.ok("-w", "main", "secrets", "check", env={"WELL_SECRET_MAIN__SMTP_PASSWORD": "x"})
    assert "smtp_password" in checked


def _unsettled_acme(dep: Deployment) -> None:
    dep.ok("workspace", "add", "acme", "--name", "Acme")
    release_records(dep.store("eu", "acme"), ("q-wait", "auto_link", 0), ("q-review", "review", 1))


def test_remove_is_refused_while_records_are_unsettled_unless_forced(dep: Deployment) -> None:
    _unsettled_acme(dep)
    refused = dep.refused("workspace", "remove", "acme")
    assert ("workspace acme has unsettled records (1 awaiting delivery, 1 awaiting a review decision): settle them "
            "first") in refused
    assert (dep.workspaces / "acme.toml").exists()
    out = " ".join(dep.ok("workspace", "remove", "acme", "--force").split())
    assert "warning: removed with unsettled records" in out
    assert f"Its data stays in {dep.region_dir('eu', 'acme')}" in out
    assert not (dep.workspaces / "acme.toml").exists() and (dep.region_dir("eu", "acme") / "well.duckdb").exists()
    assert "implicit default" not in out
    # main got a file with the first add: it can be removed like any other (nothing unsettled, no data)
    dep.ok("workspace", "remove", "main")
    assert "is the implicit default (it has no file)" in dep.refused("workspace", "remove", "main")


def test_remove_of_a_settled_workspace_needs_no_force(dep: Deployment) -> None:
    dep.ok("workspace", "add", "acme", "--name", "Acme")
    release_records(dep.store("eu", "acme"), ("q-refused", "refused", 0))
    assert "removed workspace acme" in dep.ok("workspace", "remove", "acme")


def test_data_in_another_region_is_refused_naming_both_regions_the_path_and_the_move(dep: Deployment) -> None:
    _unsettled_acme(dep)
    assert "q-review" in dep.ok("-w", "acme", "review", "list")  # opened once: stamped eu
    stamp = json.loads((dep.region_dir("eu", "acme") / "region.json").read_text())
    assert (stamp["region"], stamp["workspace"]) == ("eu", "acme")
    path = dep.workspaces / "acme.toml"
    path.write_text(path.read_text().replace('storage_region = "eu"', 'storage_region = "us"'))
    refused = dep.refused("-w", "acme", "review", "list")
    assert (f"workspace acme is configured for storage region 'us' but its existing data is in region 'eu' at "
            f"{dep.region_dir('eu', 'acme')}. Well does not move data silently: run `well workspace move acme --to "
            "us`") in refused
    assert not dep.region_dir("us", "acme").exists()


def test_a_region_stamp_that_differs_is_refused(dep: Deployment) -> None:
    release_records(DuckDBStorage(dep.data_dir / "well.duckdb", dep.data_dir / "attachments"), ("q-1", "review", 0))
    assert "q-1" in dep.ok("review", "list")
    refused = dep.refused("review", "list", env={"WELL_STORAGE_REGION": "us"})
    assert (f"workspace main is configured for storage region 'us' but its existing data at {dep.data_dir} was "
            "placed in region 'eu'") in refused
    assert "set storage_region back to 'eu'" in refused


def test_move_copies_verifies_updates_the_file_and_deletes(dep: Deployment) -> None:
    _unsettled_acme(dep)
    dep.ok("-w", "acme", "secrets", "set", "smtp_password", "--value-from-env", "PW", env={"PW": "pw"})
    dep.ok("-w", "acme", "review", "list")
    source = dep.region_dir("eu", "acme")
    with duckdb.connect(str(source / "well.duckdb"), read_only=True) as con:
        invoices = con.execute("SELECT count(*) FROM qonto_supplier_invoices").fetchone()[0]
    out = " ".join(dep.ok("workspace", "move", "acme", "--to", "us").split())
    target = dep.region_dir("us", "acme")
    assert f"moved workspace acme from region eu ({source}) to us ({target})" in out
    assert f"qonto_supplier_invoices {invoices}" in out and "verified by SHA-256" in out
    assert not source.exists()
    assert tomllib.loads((dep.workspaces / "acme.toml").read_text())["settings"]["storage_region"] == "us"
    assert json.loads((target / "region.json").read_text())["region"] == "us"
    assert stat.S_IMODE(target.stat().st_mode) == 0o700
    # Everything works from the new place: records, decisions, secrets.
    assert "q-review" in dep.ok("-w", "acme", "review", "list")
    assert "smtp_password" in dep.ok("-w", "acme", "secrets", "list")
    assert "workspace acme's data is in region us already" in dep.refused("workspace", "move", "acme", "--to", "us")


def test_move_is_refused_while_a_writer_holds_the_database(dep: Deployment) -> None:
    _unsettled_acme(dep)
    database = dep.region_dir("eu", "acme") / "well.duckdb"
    with lock_held(database):
        refused = dep.refused("workspace", "move", "acme", "--to", "us",
                              env={"WELL_DATABASE_BUSY_WAIT_S": "0"})
    assert f"move of workspace acme refused: {database} is locked by a writer" in refused
    assert database.exists() and not dep.region_dir("us", "acme").exists()
    assert not list(dep.data_dir.glob("regions/us/.acme.moving"))  # no partial copy left
    assert tomllib.loads((dep.workspaces / "acme.toml").read_text())["settings"]["storage_region"] == "eu"


def test_move_refuses_a_target_holding_data_and_the_default_workspace(dep: Deployment) -> None:
    _unsettled_acme(dep)
    occupied = dep.region_dir("us", "acme")
    occupied.mkdir(parents=True)
    (occupied / "stray.txt").write_text("x")
    assert f"{occupied} already holds data" in dep.refused("workspace", "move", "acme", "--to", "us")
    assert (dep.region_dir("eu", "acme") / "well.duckdb").exists()
    assert "is the default workspace" in dep.refused("workspace", "move", "main", "--to", "us")
    assert "unknown region 'mars'" in dep.refused("workspace", "move", "acme", "--to", "mars")


@pytest.fixture(scope="module")
def region_dsns() -> Iterator[dict[str, str]]:
    """Two databases of one real PostgreSQL test server, standing for regions eu and us."""
    try:
        server = start_server()
    except PostgresUnavailable as exc:  # only when it is not installed and cannot be: a failed start is an error
        pytest.skip(f"no PostgreSQL server for the tests: {exc}")
    try:
        yield region_databases(server, "eu", "us")
    finally:
        server.stop()


def _postgres_env(dsns: dict[str, str]) -> dict[str, str]:
    return {"WELL_STORAGE_BACKEND": "postgres", "WELL_POSTGRES_DSN": dsns["eu"],
            "WELL_REGIONS": json.dumps({"us": {"postgres_dsn": dsns["us"]}}), "PGPASSWORD": "s3cret-pw"}


def test_move_of_a_postgres_workspace_copies_the_schema_verifies_switches_and_drops(
        dep: Deployment, region_dsns: dict[str, str]) -> None:
    from well_pipeline.adapters.storage.postgres import PostgresStorage, redacted

    env = _postgres_env(region_dsns)
    dep.ok("workspace", "add", "acme", "--name", "Acme", env=env)
    source = dep.region_dir("eu", "acme")
    fill_workspace(PostgresStorage(region_dsns["eu"], "acme", source / "attachments"))
    before = snapshot(PostgresStorage(region_dsns["eu"], "acme", source / "attachments"))
    dep.ok("-w", "acme", "secrets", "set", "smtp_password", "--value-from-env", "PW", env=env | {"PW": "pw"})
    assert "q-review" in dep.ok("-w", "acme", "review", "list", env=env)  # stamps region eu
    out = " ".join(dep.ok("workspace", "move", "acme", "--to", "us", env=env).split())
    target = dep.region_dir("us", "acme")
    assert f"moved workspace acme from region eu ({source}) to us ({target})" in out
    assert (f"PostgreSQL schema acme copied from {redacted(region_dsns['eu'])} to {redacted(region_dsns['us'])} "
            "and verified (row counts and MD5 digests per table, sequences): qonto_supplier_invoices 5,") in out
    assert "review_decisions 1" in out and "the old schema is dropped" in out and "s3cret-pw" not in out
    # Switched: the file, the stamp, the files; the old schema and folder are gone.
    assert tomllib.loads((dep.workspaces / "acme.toml").read_text())["settings"]["storage_region"] == "us"
    assert json.loads((target / "region.json").read_text())["region"] == "us"
    assert not source.exists() and not schema_exists(region_dsns["eu"], "acme")
    assert snapshot(PostgresStorage(region_dsns["us"], "acme", target / "attachments")) == before
    assert "q-review" in dep.ok("-w", "acme", "review", "list", env=env)
    assert "smtp_password" in dep.ok("-w", "acme", "secrets", "list", env=env)


def test_a_postgres_move_refused_by_the_target_leaves_everything_in_place(
        dep: Deployment, region_dsns: dict[str, str]) -> None:
    from well_pipeline.adapters.storage.postgres import PostgresStorage

    env = _postgres_env(region_dsns)
    dep.ok("workspace", "add", "globex", "--name", "Globex", env=env)
    source = dep.region_dir("eu", "globex")
    fill_workspace(PostgresStorage(region_dsns["eu"], "globex", source / "attachments"))
    dep.ok("-w", "globex", "review", "list", env=env)
    PostgresStorage(region_dsns["us"], "globex", dep.region_dir("us", "globex")).invoices.set_marker("stale", "x")
    refused = dep.refused("workspace", "move", "globex", "--to", "us", env=env)
    assert "move of workspace globex refused: schema globex at" in refused and "already holds data" in refused
    assert tomllib.loads((dep.workspaces / "globex.toml").read_text())["settings"]["storage_region"] == "eu"
    assert (source / "region.json").exists() and not dep.region_dir("us", "globex").exists()
    assert not list(dep.data_dir.glob("regions/us/.globex.moving"))
    assert "q-review" in dep.ok("-w", "globex", "review", "list", env=env)


def test_move_of_a_postgres_workspace_to_an_unreachable_server_is_refused_before_anything_is_copied(
        dep: Deployment) -> None:
    eu, us = (f"host=127.0.0.1 port={free_port()} dbname=well" for _ in range(2))
    env = {"WELL_STORAGE_BACKEND": "postgres", "WELL_POSTGRES_DSN": eu,
           "WELL_REGIONS": json.dumps({"us": {"postgres_dsn": us}})}
    dep.ok("workspace", "add", "acme", "--name", "Acme", env=env)
    folder = dep.region_dir("eu", "acme")
    folder.mkdir(parents=True)
    (folder / "secrets.enc.json").write_text("{}")
    assert "data=" + str(folder) + f" (tables: PostgreSQL {eu} schema=acme)" in dep.ok("workspace", "list", env=env)
    refused = dep.refused("workspace", "move", "acme", "--to", "us", env=env)
    assert "move of workspace acme refused: cannot connect to the source PostgreSQL database (" in refused
    assert (folder / "secrets.enc.json").exists() and not dep.region_dir("us", "acme").exists()
