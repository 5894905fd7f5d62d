"""Settings: file values, WELL_<NAME> overrides, and errors that name the setting."""

from datetime import date
from pathlib import Path

import pytest

from well_pipeline.settings import Settings, SettingsError, load_settings


def test_defaults_without_file(tmp_path: Path) -> None:
    settings = load_settings(tmp_path / "absent.toml", environ={})
    assert settings.qonto_requests_per_10s == 950
    assert settings.history_start.day == 1
    assert (date.today() - settings.history_start).days <= 3 * 365 + 31
    assert settings.duckdb_path == Path(".well_data") / "well.duckdb"


def test_file_then_environment_override(tmp_path: Path) -> None:
    path = tmp_path / "well.toml"
    path.write_text('[well]\nqonto_requests_per_10s = 500\nhistory_start = 2025-02-01\ndata_dir = "/srv/well"\n')
    settings = load_settings(path, environ={"WELL_QONTO_REQUESTS_PER_10S": "700"})
    assert settings.qonto_requests_per_10s == 700
    assert settings.history_start == date(2025, 2, 1)
    assert settings.duckdb_path == Path("/srv/well/well.duckdb")


def test_unknown_setting_in_file_is_named(tmp_path: Path) -> None:
    path = tmp_path / "well.toml"
    path.write_text("qonto_request_per_10s = 5\n")
    with pytest.raises(SettingsError, match="unknown setting 'qonto_request_per_10s'"):
        load_settings(path, environ={})


def test_bad_environment_value_names_the_variable(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match=r"\$WELL_QONTO_TIMEOUT_S"):
        load_settings(tmp_path / "x.toml", environ={"WELL_QONTO_TIMEOUT_S": "soon"})


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("WELL_QONTO_AUTH_MODE", "password", "qonto_auth_mode"),
        ("WELL_QONTO_REQUESTS_PER_10S", "1200", "exceed Qonto's own rate limit"),
        ("WELL_HISTORY_START", "2999-01-01", "in the future"),
        ("WELL_QONTO_DOWNLOAD_CONCURRENCY", "0", "must be positive"),
    ],
)
def test_invalid_values_are_refused(tmp_path: Path, name: str, value: str, message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        load_settings(tmp_path / "x.toml", environ={name: value})


def test_every_setting_is_documented() -> None:
    for name, _default, doc in Settings.describe():
        assert doc, f"setting {name} has no documentation"


def test_readme_documents_every_setting() -> None:
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    for name, _default, _doc in Settings.describe():
        assert f"`{name}`" in readme and f"`WELL_{name.upper()}`" in readme, name
