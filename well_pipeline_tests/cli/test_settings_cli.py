"""`well settings`: a Melio inbox outside @invoicesmelio.com is a configuration error, said up front."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from well_pipeline.cli.main import cli


def test_well_settings_names_the_mistyped_inbox_and_the_fix(tmp_path: Path) -> None:
    env = {"WELL_SETTINGS_FILE": str(tmp_path / "absent.toml"),
           "WELL_MELIO_INBOX_ADDRESS": "bills_1234@invoices-melio.com"}
    result = CliRunner().invoke(cli, ["settings"], env=env)
    assert result.exit_code != 0
    assert "melio_inbox_address ($WELL_MELIO_INBOX_ADDRESS)" in result.output
    assert "domain 'invoices-melio.com' found, 'invoicesmelio.com' expected" in result.output
    assert "did you mean invoicesmelio.com?" in result.output


def test_well_settings_shows_the_override_switch(tmp_path: Path) -> None:
    env = {"WELL_SETTINGS_FILE": str(tmp_path / "absent.toml"), "WELL_MELIO_INBOX_ADDRESS": "ap@inbox.example.test",
           "WELL_MELIO_INBOX_ALLOW_ANY_DOMAIN": "yes"}
    result = CliRunner().invoke(cli, ["settings"], env=env)
    assert result.exit_code == 0, result.output
    assert "melio_inbox_allow_any_domain = True    [WELL_MELIO_INBOX_ALLOW_ANY_DOMAIN; default False]" in result.output
    assert "Tests and sandboxes only" in result.output


@pytest.mark.parametrize("command", [["review", "list"], ["delivery", "status"], ["qonto", "status"]])
def test_a_bad_setting_is_one_line_in_every_command(tmp_path: Path, command: list[str]) -> None:
    env = {"WELL_SETTINGS_FILE": str(tmp_path / "absent.toml"), "WELL_DATA_DIR": str(tmp_path),
           "WELL_SMTP_PORT": "abc"}
    result = CliRunner().invoke(cli, command, env=env)
    assert result.exit_code == 1
    assert result.output == "Error: setting smtp_port ($WELL_SMTP_PORT): cannot read 'abc' (expected a whole number)\n"
    assert result.exception is None or isinstance(result.exception, SystemExit)  # no traceback
