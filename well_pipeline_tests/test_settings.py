"""Settings: file values, WELL_<NAME> overrides, errors that name the setting and its origin, generated docs."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from well_pipeline import settings_doc
from well_pipeline.core.scoring.policy import ScoringPolicy
from well_pipeline.settings import SECTIONS, Settings, SettingsError, check_melio_inbox, load_settings

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _no_ambient_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The shell's WELL_* variables and a well.toml in the working directory must not leak into these tests."""
    for name in list(os.environ):
        if name.startswith("WELL_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def test_defaults_without_file(tmp_path: Path) -> None:
    settings = load_settings(tmp_path / "absent.toml")
    assert settings.qonto_requests_per_10s == 950
    assert settings.history_start is None  # unset: the day the first connect fixed (services/history_window.py)
    assert settings.duckdb_path == Path(".well_data") / "well.duckdb"


def test_file_then_environment_override(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "well.toml"
    path.write_text('[well]\nqonto_requests_per_10s = 500\nhistory_start = 2025-02-01\ndata_dir = "/srv/well"\n')
    monkeypatch.setenv("WELL_QONTO_REQUESTS_PER_10S", "700")
    settings = load_settings(path)
    assert settings.qonto_requests_per_10s == 700
    assert settings.history_start == date(2025, 2, 1)
    assert settings.duckdb_path == Path("/srv/well/well.duckdb")


def test_the_settings_file_variable_and_the_default_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "well.toml").write_text("smtp_port = 465\n")  # ./well.toml, the default
    assert load_settings().smtp_port == 465
    elsewhere = tmp_path / "conf" / "prod.toml"
    elsewhere.parent.mkdir()
    elsewhere.write_text("[well]\nsmtp_port = 2525\n")
    monkeypatch.setenv("WELL_SETTINGS_FILE", str(elsewhere))
    assert load_settings().smtp_port == 2525


def test_file_values_are_read_as_a_variable_would_be(tmp_path: Path) -> None:
    """Users' files hold numbers for text settings and TOML lists for comma-separated ones: both keep working."""
    path = tmp_path / "well.toml"
    path.write_text('qonto_client_id = 12345\nmax_auto_link_amount = 30000\neligible_statuses = ["paid", "to_review"]\n'
                    'melio_vendors_csv = "~/exports/vendors.csv"\n')
    settings = load_settings(path)
    assert settings.qonto_client_id == "12345"
    assert settings.eligible_statuses == "paid,to_review"
    assert settings.policy().max_auto_link_amount == 30000
    assert settings.policy().eligible_statuses == {"paid", "to_review"}
    assert settings.melio_vendors_path == Path.home() / "exports" / "vendors.csv"


def test_an_empty_variable_counts_as_unset(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "well.toml"
    path.write_text('smtp_host = "smtp.example.com"\n')
    monkeypatch.setenv("WELL_SMTP_HOST", "")
    assert load_settings(path).smtp_host == "smtp.example.com"


def test_unknown_setting_in_file_is_named_with_the_closest_one(tmp_path: Path) -> None:
    path = tmp_path / "well.toml"
    path.write_text("qonto_request_per_10s = 5\n")
    with pytest.raises(SettingsError, match=rf"settings file {path}: unknown setting 'qonto_request_per_10s' "
                                            r"\(did you mean 'qonto_requests_per_10s'\?"):
        load_settings(path)


def test_an_unreadable_file_is_named(tmp_path: Path) -> None:
    path = tmp_path / "well.toml"
    path.write_text("smtp_port = = 3\n")
    with pytest.raises(SettingsError, match=rf"settings file {path}: "):
        load_settings(path)


def test_bad_environment_value_names_the_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WELL_QONTO_TIMEOUT_S", "soon")
    with pytest.raises(SettingsError, match=r"^setting qonto_timeout_s \(\$WELL_QONTO_TIMEOUT_S\): "
                                            r"cannot read 'soon' \(expected a number\)$"):
        load_settings(tmp_path / "x.toml")


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("WELL_QONTO_AUTH_MODE", "password", "qonto_auth_mode ($WELL_QONTO_AUTH_MODE): must be 'oauth' or 'api_key', "
                                             "got 'password'"),
        ("WELL_QONTO_REQUESTS_PER_10S", "1200", "qonto_requests_per_10s ($WELL_QONTO_REQUESTS_PER_10S): must be at "
                                                "most 1000, got '1200'"),
        ("WELL_HISTORY_START", "2999-01-01", "history_start ($WELL_HISTORY_START): 2999-01-01 is in the future"),
        ("WELL_QONTO_DOWNLOAD_CONCURRENCY", "0", "qonto_download_concurrency ($WELL_QONTO_DOWNLOAD_CONCURRENCY): "
                                                "must be positive, got '0'"),
        ("WELL_SMTP_MAX_PER_DAY", "-1", "smtp_max_per_day ($WELL_SMTP_MAX_PER_DAY): must be zero or positive"),
        ("WELL_SMTP_SECURITY", "none", "smtp_security ($WELL_SMTP_SECURITY): must be 'starttls' or 'tls'"),
        ("WELL_MAX_AUTO_LINK_AMOUNT", "-5", "max_auto_link_amount ($WELL_MAX_AUTO_LINK_AMOUNT): must be a positive "
                                            "amount or empty"),
        ("WELL_HISTORY_START", "last year", "history_start ($WELL_HISTORY_START): cannot read 'last year' "
                                            "(expected a date like 2024-01-31)"),
        ("WELL_SMTP_PORT", "25.5", "smtp_port ($WELL_SMTP_PORT): cannot read '25.5' (expected a whole number)"),
        ("WELL_SYNC_INTERVAL_MINUTES", "0.1", "sync_interval_minutes ($WELL_SYNC_INTERVAL_MINUTES): must be at "
                                              "least 0.25"),
    ],
)
def test_invalid_values_are_refused_naming_setting_and_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                 name: str, value: str, message: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as caught:
        load_settings(tmp_path / "x.toml")
    assert str(caught.value).startswith(f"setting {message}")


def test_the_sync_interval_takes_fractions_of_a_minute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WELL_SYNC_INTERVAL_MINUTES", "0.25")  # the demo's 15 s
    assert load_settings(tmp_path / "x.toml").sync_interval_minutes * 60 == 15


def test_a_value_from_the_file_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "well.toml"
    path.write_text("[well]\nqonto_max_retries = true\nsmtp_port = 0\n")
    with pytest.raises(SettingsError) as caught:
        load_settings(path)
    assert str(caught.value).splitlines() == [  # every problem at once, each with where its value came from
        f"setting smtp_port (file {path}): must be positive, got 0",
        f"setting qonto_max_retries (file {path}): expected a number, not true or false"]
    path.write_text("[well]\nreview_threshold = 0.9\n")
    with pytest.raises(SettingsError) as caught:  # a rule over two settings names both (a default: its variable)
        load_settings(path)
    assert str(caught.value) == (f"settings review_threshold (file {path}), auto_link_threshold "
                                 "($WELL_AUTO_LINK_THRESHOLD): review_threshold (0.9) must not exceed "
                                 "auto_link_threshold (0.85)")


def test_constructing_settings_reads_nothing_and_refuses_bad_values(monkeypatch: pytest.MonkeyPatch,
                                                                    tmp_path: Path) -> None:
    (tmp_path / "well.toml").write_text("smtp_port = 465\n")
    monkeypatch.setenv("WELL_SMTP_HOST", "smtp.example.com")
    settings = Settings(data_dir=tmp_path)  # a Path is a path setting's text
    assert (settings.smtp_port, settings.smtp_host, settings.data_dir) == (587, "", str(tmp_path))
    with pytest.raises(SettingsError, match=r"^setting smtp_port \(\$WELL_SMTP_PORT\): must be positive, got 0$"):
        Settings(smtp_port=0)
    with pytest.raises(SettingsError, match="setting smtp_prot .*unknown setting"):
        Settings(smtp_prot=25)


def test_replace_validates_again() -> None:
    settings = Settings(smtp_port=2525)
    assert settings.replace(smtp_host="relay").smtp_port == 2525
    with pytest.raises(SettingsError, match="review_threshold"):
        settings.replace(review_threshold=0.99)


def test_scoring_defaults_are_the_pure_policys() -> None:
    assert Settings().policy() == ScoringPolicy()
    custom = Settings(allowed_currencies="eur, chf", blocked_vendor_ids="V-1,,V-2", max_auto_link_amount="").policy()
    assert custom.allowed_currencies == {"EUR", "CHF"}
    assert custom.blocked_vendor_ids == {"V-1", "V-2"}
    assert custom.max_auto_link_amount is None


def test_nothing_reads_settings_at_import_but_the_definitions_pieces(tmp_path: Path) -> None:
    """An unreadable setting breaks only building the definitions (per workspace: partitions, sensor intervals),
    never an import."""
    env = {**os.environ, "WELL_QONTO_TIMEOUT_S": "soon", "PYTHONPATH": str(ROOT)}
    quiet = ("import well_pipeline.cli.main, well_pipeline.definitions, well_pipeline.defs.resources, "
             "well_pipeline.defs.qonto.partitions, well_pipeline.workspaces")
    assert subprocess.run([sys.executable, "-c", quiet], env=env, cwd=tmp_path).returncode == 0
    built = subprocess.run([sys.executable, "-c", "import well_pipeline.definitions as d; d.defs()"], env=env,
                           cwd=tmp_path, capture_output=True, text=True)
    assert built.returncode != 0 and "setting qonto_timeout_s ($WELL_QONTO_TIMEOUT_S)" in built.stderr


# -- the documentation is generated from the model -------------------------------------------------------------


def test_every_setting_is_documented_once() -> None:
    documented = [doc.name for _caption, docs in settings_doc.sections() for doc in docs]
    assert sorted(documented) == sorted(Settings.model_fields)  # each once, none missing
    for section in SECTIONS:
        for name, info in section.model_fields.items():
            assert info.description, f"setting {name} has no help text"


def test_readme_settings_block_is_the_generated_one() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert settings_doc.replace_block(readme, settings_doc.readme_block()) == readme, \
        "README settings block is stale: run python -m well_pipeline.settings_doc --write"
    assert settings_doc.main(["--check"]) == 0


def test_the_generator_rewrites_only_its_block() -> None:
    stale = f"intro\n{settings_doc.BEGIN}\n| old | rows |\n{settings_doc.END}\noutro\n"
    fresh = settings_doc.replace_block(stale, settings_doc.readme_block())
    assert fresh.startswith("intro\n") and fresh.endswith("\noutro\n") and "| old | rows |" not in fresh
    assert "| `smtp_port` | `WELL_SMTP_PORT` | `587` | SMTP port (587 for STARTTLS, 465 for implicit TLS). |" in fresh
    assert ("| `history_start` | `WELL_HISTORY_START` | empty (the day fixed by the first `well qonto connect`) |"
            in fresh)
    with pytest.raises(ValueError, match="settings block once"):
        settings_doc.replace_block("no markers here", settings_doc.readme_block())


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
def test_a_mistyped_melio_inbox_is_refused_when_settings_load(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                               address: str, domain: str) -> None:
    monkeypatch.setenv("WELL_MELIO_INBOX_ADDRESS", address)
    with pytest.raises(SettingsError) as caught:
        load_settings(tmp_path / "x.toml")
    message = str(caught.value)
    assert message.startswith("setting melio_inbox_address ($WELL_MELIO_INBOX_ADDRESS): ")
    assert f"domain {domain!r} found, 'invoicesmelio.com' expected" in message
    assert "did you mean invoicesmelio.com?" in message


def test_a_foreign_inbox_in_the_settings_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "well.toml"
    path.write_text('[well]\nmelio_inbox_address = "ap@acme.example.com"\n')
    with pytest.raises(SettingsError, match=rf"melio_inbox_address \(file {path}\): .*domain 'acme\.example\.com' "
                                            "found"):
        load_settings(path)


def test_the_melio_domain_is_accepted_in_any_case_and_empty_means_not_configured(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WELL_MELIO_INBOX_ADDRESS", "X@InvoicesMelio.COM")
    settings = load_settings(tmp_path / "x.toml")
    assert settings.melio_inbox_address == "X@InvoicesMelio.COM"
    assert settings.melio_inbox_allow_any_domain is False
    monkeypatch.delenv("WELL_MELIO_INBOX_ADDRESS")
    assert load_settings(tmp_path / "x.toml").melio_inbox_address == ""


def test_allow_any_domain_is_an_explicit_switch_that_warns(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WELL_MELIO_INBOX_ADDRESS", "ap@inbox.example.test")
    monkeypatch.setenv("WELL_MELIO_INBOX_ALLOW_ANY_DOMAIN", "true")
    settings = load_settings(tmp_path / "x.toml")
    assert settings.melio_inbox_allow_any_domain is True
    (warning,) = check_melio_inbox(settings.melio_inbox_address, allow_any_domain=True)
    assert warning.startswith("melio_inbox_allow_any_domain ($WELL_MELIO_INBOX_ALLOW_ANY_DOMAIN) is on: ")
    assert "tests and sandboxes only" in warning
    monkeypatch.delenv("WELL_MELIO_INBOX_ADDRESS")
    monkeypatch.delenv("WELL_MELIO_INBOX_ALLOW_ANY_DOMAIN")
    path = tmp_path / "well.toml"
    path.write_text('melio_inbox_address = "ap@inbox.example.test"\nmelio_inbox_allow_any_domain = true\n')
    assert load_settings(path).melio_inbox_allow_any_domain is True
    monkeypatch.setenv("WELL_MELIO_INBOX_ALLOW_ANY_DOMAIN", "false")  # "false" turns the switch off again
    with pytest.raises(SettingsError, match="melio_inbox_address"):
        load_settings(path)


def test_an_unreadable_switch_value_is_refused_not_taken_for_false(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WELL_MELIO_INBOX_ALLOW_ANY_DOMAIN", "ture")
    with pytest.raises(SettingsError, match=r"\(\$WELL_MELIO_INBOX_ALLOW_ANY_DOMAIN\): cannot read 'ture' "
                                            r"\(expected true or false\)"):
        load_settings(tmp_path / "x.toml")


def test_secret_key_file_defaults_beside_the_store_and_reads_the_long_standing_variable(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WELL_DATA_DIR", "/srv/well")
    assert load_settings(tmp_path / "absent.toml").secret_key_path == Path("/srv/well/secret.key")
    monkeypatch.setenv("WELL_SECRET_KEY_FILE", "/etc/well/secret.key")
    assert load_settings(tmp_path / "absent.toml").secret_key_path == Path("/etc/well/secret.key")
    monkeypatch.delenv("WELL_DATA_DIR")
    monkeypatch.delenv("WELL_SECRET_KEY_FILE")
    path = tmp_path / "well.toml"
    path.write_text('data_dir = "/srv/well"\nsecret_key_file = "keys/secret.key"\n')
    assert load_settings(path).secret_key_path == Path("/srv/well/keys/secret.key")
