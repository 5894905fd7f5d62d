"""Workspace files: the loader, the settings overlay and its precedence, the id rules, the implicit default, the
choice of a workspace and the per-workspace secret variables (well_pipeline/workspaces.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from well_pipeline.adapters.secrets import QONTO_CLIENT_SECRET, SMTP_PASSWORD
from well_pipeline.settings import Settings, load_settings
from well_pipeline.workspaces import (
    DEFAULT_WORKSPACE_ID,
    WorkspaceError,
    check_workspace_id,
    load_workspaces,
    region_root,
    secret_store_for,
    select_workspace,
    workspace_environ,
    workspace_file_text,
)


def write_ws(folder: Path, workspace_id: str, settings: str = "", *, name: str | None = None,
             head: str | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name or workspace_id}.toml"
    path.write_text((head if head is not None else f'[workspace]\nid = "{workspace_id}"\n'
                     f'display_name = "{workspace_id.title()} SAS"\n') + f"[settings]\n{settings}", encoding="utf-8")
    return path


@pytest.fixture
def base(tmp_path: Path) -> Settings:
    return Settings(data_dir=str(tmp_path / "data"), workspaces_dir=str(tmp_path / "workspaces"))


def test_no_workspace_file_is_the_implicit_default_with_settings_unchanged(base: Settings) -> None:
    (only,) = load_workspaces(base)
    assert (only.id, only.source) == (DEFAULT_WORKSPACE_ID, None)
    assert only.settings == base  # same data_dir, same postgres_schema: today's setup needs no step
    assert (only.settings.data_dir, only.settings.postgres_schema) == (base.data_dir, "well")


def test_an_empty_folder_is_the_implicit_default_too(base: Settings) -> None:
    Path(base.workspaces_dir).mkdir()
    assert [ws.id for ws in load_workspaces(base)] == ["main"]


def test_the_default_folder_is_beside_the_settings_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "well.toml").write_text(f'data_dir = "{tmp_path / "data"}"\n', encoding="utf-8")
    write_ws(tmp_path / "workspaces", "acme")
    monkeypatch.setenv("WELL_SETTINGS_FILE", str(tmp_path / "well.toml"))
    assert [ws.id for ws in load_workspaces()] == ["acme"]


def test_named_workspaces_are_sorted_and_placed_by_region(base: Settings, tmp_path: Path) -> None:
    folder = Path(base.workspaces_dir)
    write_ws(folder, "globex", 'storage_region = "us"\n')
    acme = write_ws(folder, "acme", 'storage_region = "eu"\nmelio_inbox_address = "acme-ap@invoicesmelio.com"\n'
                    'history_start = "2024-01-01"\nauto_link_threshold = 0.97\n')
    first, second = load_workspaces(base)
    assert (first.id, first.display_name, first.source, second.id) == ("acme", "Acme SAS", acme, "globex")
    assert Path(first.settings.data_dir) == tmp_path / "data" / "regions" / "eu" / "acme"
    assert Path(second.settings.data_dir) == tmp_path / "data" / "regions" / "us" / "globex"
    assert (first.settings.postgres_schema, first.settings.workspace_id) == ("acme", "acme")
    assert first.settings.melio_inbox_address == "acme-ap@invoicesmelio.com"
    assert str(first.settings.history_start) == "2024-01-01" and first.settings.auto_link_threshold == 0.97
    assert second.settings.auto_link_threshold == base.auto_link_threshold  # not set: the deployment's


def test_a_configured_region_root_and_dsn_place_the_workspace(tmp_path: Path) -> None:
    base = Settings(data_dir=str(tmp_path / "data"), workspaces_dir=str(tmp_path / "ws"), postgres_dsn="host=a",
                    regions={"ch": {"data_root": str(tmp_path / "zurich"), "postgres_dsn": "host=zurich"}})
    write_ws(tmp_path / "ws", "acme", 'storage_region = "ch"\n')
    write_ws(tmp_path / "ws", "globex", 'storage_region = "eu"\n')
    acme, globex = load_workspaces(base)
    assert Path(acme.settings.data_dir) == tmp_path / "zurich" / "acme"
    assert (acme.settings.postgres_dsn, globex.settings.postgres_dsn) == ("host=zurich", "host=a")
    # The workspace's own settings still know every region's root (its data_dir is no longer the base one).
    assert region_root(acme.settings, "eu") == region_root(base, "eu") == tmp_path / "data" / "regions" / "eu"


def test_each_workspace_keeps_its_documents_under_its_own_prefix_in_its_region(tmp_path: Path) -> None:
    base = Settings(data_dir=str(tmp_path / "data"), workspaces_dir=str(tmp_path / "ws"),
                    attachments_url="s3://well-docs/prod", regions={"us": {"attachments_url": "s3://well-us/docs/"}})
    for workspace_id, region in (("acme", "eu"), ("globex", "eu"), ("initech", "us")):
        write_ws(tmp_path / "ws", workspace_id, f'storage_region = "{region}"\n')
    acme, globex, initech = load_workspaces(base)
    assert [w.settings.attachments_location for w in (acme, globex, initech)] == [
        "s3://well-docs/prod/acme", "s3://well-docs/prod/globex", "s3://well-us/docs/initech"]
    # Without any URL each keeps them in its own data folder, in its region.
    plain = Settings(data_dir=str(tmp_path / "data"), workspaces_dir=str(tmp_path / "ws"))
    assert [Path(w.settings.attachments_dir) for w in load_workspaces(plain)] == [
        tmp_path / "data" / "regions" / region / ws_id / "attachments"
        for ws_id, region in (("acme", "eu"), ("globex", "eu"), ("initech", "us"))]


def test_precedence_defaults_file_environment_workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings_file = tmp_path / "well.toml"
    settings_file.write_text('review_threshold = 0.5\nauto_link_threshold = 0.9\nsmtp_port = 2525\n',
                             encoding="utf-8")
    monkeypatch.setenv("WELL_SETTINGS_FILE", str(settings_file))
    monkeypatch.setenv("WELL_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("WELL_AUTO_LINK_THRESHOLD", "0.95")
    monkeypatch.setenv("WELL_MELIO_INBOX_ADDRESS", "demo@invoicesmelio.com")
    write_ws(tmp_path / "workspaces", "acme", "auto_link_threshold = 0.99\n")
    (acme,) = load_workspaces()
    assert acme.settings.smtp_port == 2525  # file
    assert acme.settings.review_threshold == 0.5  # file
    assert acme.settings.auto_link_threshold == 0.99  # workspace file beats the variable
    assert load_settings().auto_link_threshold == 0.95  # which did beat the file
    # A demo's inbox address never reaches a named company's workspace: only its own file sets it.
    assert acme.settings.melio_inbox_address == ""


def test_main_keeps_its_data_when_it_gets_a_file(base: Settings) -> None:
    write_ws(Path(base.workspaces_dir), "main", 'storage_region = "eu"\n')
    write_ws(Path(base.workspaces_dir), "acme")
    main = select_workspace(load_workspaces(base), "main")
    assert (main.settings.data_dir, main.settings.postgres_schema) == (base.data_dir, base.postgres_schema)


@pytest.mark.parametrize("key", ["postgres_dsn", "storage_backend", "workspaces_dir", "data_dir", "max_run_minutes",
                                 "postgres_schema", "regions"])
def test_deployment_only_settings_are_refused_naming_the_file(base: Settings, key: str) -> None:
    path = write_ws(Path(base.workspaces_dir), "acme", f'{key} = "x"\n')
    with pytest.raises(WorkspaceError, match=f"workspace file {path}: setting '{key}' is deployment-wide"):
        load_workspaces(base)


def test_an_unknown_setting_names_the_file_and_the_closest(base: Settings) -> None:
    path = write_ws(Path(base.workspaces_dir), "acme", "auto_link_treshold = 0.9\n")
    with pytest.raises(WorkspaceError, match=f"{path}: unknown setting 'auto_link_treshold' "
                                             r"\(did you mean 'auto_link_threshold'\?"):
        load_workspaces(base)


def test_a_bad_value_is_a_settings_error_located_at_the_file(base: Settings) -> None:
    path = write_ws(Path(base.workspaces_dir), "acme", 'melio_inbox_address = "ap@gmail.com"\n')
    with pytest.raises(WorkspaceError, match=rf"setting melio_inbox_address \(workspace file {path}\)"):
        load_workspaces(base)


def test_an_unknown_region_lists_the_regions(base: Settings) -> None:
    write_ws(Path(base.workspaces_dir), "acme", 'storage_region = "mars"\n')
    with pytest.raises(WorkspaceError, match="unknown storage_region 'mars'; the regions are eu, us"):
        load_workspaces(base)


@pytest.mark.parametrize("bad", ["Acme", "1acme", "ac__me", "default", "a" * 41, "ac-me", ""])
def test_id_rules(bad: str) -> None:
    with pytest.raises(WorkspaceError):
        check_workspace_id(bad)
    assert check_workspace_id("acme_2") == "acme_2"


def test_the_file_name_must_be_the_id(base: Settings) -> None:
    write_ws(Path(base.workspaces_dir), "acme", name="acme-old")
    with pytest.raises(WorkspaceError, match="its id is 'acme' but the file is named acme-old.toml"):
        load_workspaces(base)


def test_a_broken_file_is_named(base: Settings) -> None:
    path = write_ws(Path(base.workspaces_dir), "acme", head="[workspace\n")
    with pytest.raises(WorkspaceError, match=f"workspace file {path}"):
        load_workspaces(base)


def test_select_one_by_default_several_need_a_choice(base: Settings) -> None:
    folder = Path(base.workspaces_dir)
    write_ws(folder, "acme")
    assert select_workspace(load_workspaces(base), None).id == "acme"
    write_ws(folder, "globex")
    workspaces = load_workspaces(base)
    with pytest.raises(WorkspaceError, match=r"there are 2 workspaces \(acme, globex\): choose one with --workspace"):
        select_workspace(workspaces, None)
    with pytest.raises(WorkspaceError, match="no workspace 'initech'; the workspaces are: acme, globex"):
        select_workspace(workspaces, "initech")
    assert select_workspace(workspaces, "globex").id == "globex"


def test_the_written_text_reads_back(base: Settings) -> None:
    folder = Path(base.workspaces_dir)
    folder.mkdir()
    (folder / "acme.toml").write_text(workspace_file_text("acme", 'Acme "SAS"', {
        "storage_region": "us", "auto_link_threshold": 0.93, "melio_inbox_allow_any_domain": True}))
    (acme,) = load_workspaces(base)
    assert (acme.display_name, acme.region, acme.settings.auto_link_threshold) == ('Acme "SAS"', "us", 0.93)
    assert acme.settings.melio_inbox_allow_any_domain is True


# ---- secrets from the environment -------------------------------------------------------------------------------

def test_prefixed_secret_variables_reach_only_their_workspace() -> None:
    environ = {"WELL_SECRET_ACME__QONTO_CLIENT_SECRET": "acme-s", "WELL_SECRET_GLOBEX__QONTO_CLIENT_SECRET": "glx",
               "WELL_SECRET_KEY": "shared-key", "PATH": "/bin"}
    acme = workspace_environ("acme", environ, ["acme", "globex"])
    assert acme == {"WELL_SECRET_QONTO_CLIENT_SECRET": "acme-s", "WELL_SECRET_KEY": "shared-key", "PATH": "/bin"}
    assert workspace_environ("globex", environ, ["acme", "globex"])["WELL_SECRET_QONTO_CLIENT_SECRET"] == "glx"


def test_a_workspace_reads_its_own_variables_whatever_list_it_sees_and_never_an_unknown_workspace_s() -> None:
    # A process that reads another workspaces folder (or none) still maps its own prefixed variables; a variable
    # of a workspace it does not know (removed, or a typo) is nobody's: neither its own nor a bare one.
    environ = {"WELL_SECRET_ACME__QONTO_CLIENT_SECRET": "acme-s", "WELL_SECRET_OLDCO__QONTO_CLIENT_SECRET": "old"}
    assert workspace_environ("acme", environ, ["main"]) == {"WELL_SECRET_QONTO_CLIENT_SECRET": "acme-s"}
    assert workspace_environ("globex", environ, ["acme", "globex"]) == {}  # not refused as bare, not passed on


def test_a_bare_secret_variable_is_refused_with_several_workspaces() -> None:
    environ = {"WELL_SECRET_SMTP_PASSWORD": "p"}
    assert workspace_environ("acme", environ, ["acme"])["WELL_SECRET_SMTP_PASSWORD"] == "p"
    with pytest.raises(WorkspaceError, match="WELL_SECRET_SMTP_PASSWORD is set but there are 2 workspaces "
                                             r"\(acme, globex\).*WELL_SECRET_ACME__SMTP_PASSWORD"):
        workspace_environ("acme", environ, ["acme", "globex"])


def test_the_prefixed_variable_wins_over_the_bare_one_in_a_single_workspace() -> None:
    environ = {"WELL_SECRET_ACME__SMTP_PASSWORD": "own", "WELL_SECRET_SMTP_PASSWORD": "bare"}
    assert workspace_environ("acme", environ, ["acme"])["WELL_SECRET_SMTP_PASSWORD"] == "own"


def test_secret_store_for_reads_the_workspace_store_and_its_variables(base: Settings) -> None:
    folder = Path(base.workspaces_dir)
    write_ws(folder, "acme")
    write_ws(folder, "globex", 'storage_region = "us"\n')
    acme, globex = load_workspaces(base)
    secret_store_for(acme.settings, {}).set(SMTP_PASSWORD, "stored-acme")
    environ = {"WELL_SECRET_GLOBEX__QONTO_CLIENT_SECRET": "from-env"}
    acme_store, globex_store = secret_store_for(acme.settings, environ), secret_store_for(globex.settings, environ)
    assert acme_store.path == Path(acme.settings.data_dir) / "secrets.enc.json"
    assert acme_store.require(SMTP_PASSWORD, "x").reveal() == "stored-acme"
    assert globex_store.get(SMTP_PASSWORD) is None  # another company's store
    assert acme_store.get(QONTO_CLIENT_SECRET) is None
    assert globex_store.require(QONTO_CLIENT_SECRET, "x").reveal() == "from-env"
    with pytest.raises(WorkspaceError, match="WELL_SECRET_QONTO_CLIENT_SECRET is set but there are 2"):
        secret_store_for(acme.settings, {"WELL_SECRET_QONTO_CLIENT_SECRET": "bare"})
