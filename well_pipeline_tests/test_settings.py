"""Settings: file values, WELL_<NAME> overrides, and errors that name the setting."""

from datetime import date
from pathlib import Path

import pytest

from well_pipeline.settings import Settings, SettingsError, check_melio_inbox, load_settings


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


# -- the Melio inbox address (issue 7) -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "domain"),
    [
        ("bills_1234@invoicemelio.com", "invoicemelio.com"),
        ("bills_1234@invoicesmelio.co", "invoicesmelio.co"),
        ("bills_1234@invoices-melio.com", "invoices-melio.com"),
        ("bills_1234@mail.invoicesmelio.com", "mail.invoicesmelio.com"),
    ],
)
def test_a_mistyped_melio_inbox_is_refused_when_settings_load(tmp_path: Path, address: str, domain: str) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(tmp_path / "x.toml", environ={"WELL_MELIO_INBOX_ADDRESS": address})
    message = str(caught.value)
    assert message.startswith("setting melio_inbox_address ($WELL_MELIO_INBOX_ADDRESS): ")
    assert f"domain {domain!r} found, 'invoicesmelio.com' expected" in message
    assert "did you mean invoicesmelio.com?" in message


def test_a_foreign_inbox_in_the_settings_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "well.toml"
    path.write_text('[well]\nmelio_inbox_address = "ap@acme.example.com"\n')
    with pytest.raises(SettingsError, match=r"melio_inbox_address .*domain 'acme\.example\.com' found"):
        load_settings(path, environ={})


def test_the_melio_domain_is_accepted_in_any_case_and_empty_means_not_configured(tmp_path: Path) -> None:
    settings = load_settings(tmp_path / "x.toml", environ={"WELL_MELIO_INBOX_ADDRESS": "X@InvoicesMelio.COM"})
    assert settings.melio_inbox_address == "X@InvoicesMelio.COM"
    assert settings.melio_inbox_allow_any_domain is False
    assert load_settings(tmp_path / "x.toml", environ={}).melio_inbox_address == ""


def test_allow_any_domain_is_an_explicit_switch_that_warns(tmp_path: Path) -> None:
    env = {"WELL_MELIO_INBOX_ADDRESS": "ap@inbox.example.test", "WELL_MELIO_INBOX_ALLOW_ANY_DOMAIN": "true"}
    settings = load_settings(tmp_path / "x.toml", environ=env)
    assert settings.melio_inbox_allow_any_domain is True
    (warning,) = check_melio_inbox(settings.melio_inbox_address, allow_any_domain=True)
    assert warning.startswith("melio_inbox_allow_any_domain ($WELL_MELIO_INBOX_ALLOW_ANY_DOMAIN) is on: ")
    assert "tests and sandboxes only" in warning
    path = tmp_path / "well.toml"
    path.write_text('melio_inbox_address = "ap@inbox.example.test"\nmelio_inbox_allow_any_domain = true\n')
    assert load_settings(path, environ={}).melio_inbox_allow_any_domain is True
    with pytest.raises(SettingsError, match="melio_inbox_address"):  # "false" turns the switch off again
        load_settings(path, environ={"WELL_MELIO_INBOX_ALLOW_ANY_DOMAIN": "false"})


def test_an_unreadable_switch_value_is_refused_not_taken_for_false(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match=r"\$WELL_MELIO_INBOX_ALLOW_ANY_DOMAIN: cannot read 'ture'"):
        load_settings(tmp_path / "x.toml", environ={"WELL_MELIO_INBOX_ALLOW_ANY_DOMAIN": "ture"})


def test_secret_key_file_defaults_beside_the_store_and_reads_the_long_standing_variable(tmp_path: Path) -> None:
    settings = load_settings(tmp_path / "absent.toml", environ={"WELL_DATA_DIR": "/srv/well"})
    assert settings.secret_key_path == Path("/srv/well/secret.key")
    apart = load_settings(tmp_path / "absent.toml",
                          environ={"WELL_DATA_DIR": "/srv/well", "WELL_SECRET_KEY_FILE": "/etc/well/secret.key"})
    assert apart.secret_key_path == Path("/etc/well/secret.key")
    path = tmp_path / "well.toml"
    path.write_text('data_dir = "/srv/well"\nsecret_key_file = "keys/secret.key"\n')
    assert load_settings(path, environ={}).secret_key_path == Path("/srv/well/keys/secret.key")
