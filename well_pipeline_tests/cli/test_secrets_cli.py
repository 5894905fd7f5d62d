"""`well secrets` and `well qonto status|connect` on real files: a lost, wrong or damaged key or store is a clear
error with recovery steps (no traceback, no new key, nothing changed), and `check`/`reset` repair it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from cryptography.fernet import Fernet

from well_pipeline.cli.main import cli

VALUES = {"qonto_client_secret": "client-secret-value-7f3a", "smtp_password": "smtp-password-value-91c2",
          "qonto_refresh_token": "ory_rt_refresh-value-55d0"}


class Well:
    """The `well` command on one data directory, remembering every output to look for leaked values."""

    def __init__(self, tmp_path: Path) -> None:
        self.data = tmp_path / "data"
        self.env = {"WELL_DATA_DIR": str(self.data), "WELL_SETTINGS_FILE": str(tmp_path / "absent.toml"),
                    "WELL_QONTO_CLIENT_ID": "well-client", "WELL_QONTO_REDIRECT_URI": "http://127.0.0.1:9/cb"}
        self.outputs: list[str] = []

    @property
    def store(self) -> Path:
        return self.data / "secrets.enc.json"

    @property
    def key(self) -> Path:
        return self.data / "secret.key"

    def __call__(self, *args: str, input: str | None = None, **env: str) -> Result:
        result = CliRunner().invoke(cli, list(args), env={**self.env, **VALUE_ENV, **env}, input=input)
        self.outputs.append(result.output)
        return result

    def fill(self) -> None:
        for name in VALUES:
            assert self("secrets", "set", name, "--value-from-env", f"VALUE_{name.upper()}").exit_code == 0

    def leaked(self) -> int:
        """How many secret values appear in anything Well printed."""
        return sum(value in output for output in self.outputs for value in VALUES.values())


VALUE_ENV = {f"VALUE_{name.upper()}": value for name, value in VALUES.items()}


def states(check_output: str) -> dict[str, str]:
    """name → state from the lines of `well secrets check` (two-space indented: name, state, details)."""
    rows = [line.split() for line in check_output.splitlines() if line.startswith("  ") and line.strip()]
    return {row[0]: row[1] for row in rows if row and row[0] in VALUES}


def failed_cleanly(result: Result, *phrases: str) -> bool:
    """Non-zero exit through click (a message, not a traceback) whose text holds every phrase."""
    return (result.exit_code == 1 and isinstance(result.exception, SystemExit) and "Traceback" not in result.output
            and all(phrase in result.output for phrase in phrases))


@pytest.mark.fault(scenario="Secret key file lost while the store holds secrets",
                   expected="status, check, set and connect stop with the recovery steps, no traceback; "
                            "no new key; the store is unchanged and opens again once the key is restored")
def test_lost_key_is_a_clear_error_and_never_a_new_key(tmp_path: Path, fault_outcome) -> None:
    well = Well(tmp_path)
    well.fill()
    key = well.key.read_bytes()
    well.key.unlink()  # lost: a wiped laptop, a data folder copied without it
    before = well.store.read_bytes()

    status = well("qonto", "status")
    assert "connected: unknown" in status.output and "no data yet" in status.output
    results = [status, well("secrets", "check"), well("qonto", "connect", "--no-browser", "--timeout", "1"),
               well("secrets", "set", "smtp_password", "--value-from-env", "VALUE_SMTP_PASSWORD")]
    clean = [failed_cleanly(r, f"key file {well.key} is missing", "backup", "well secrets reset --all",
                            "well qonto connect") for r in results]
    assert all(clean), [r.output for r in results]
    assert well("secrets", "list").exit_code == 0  # names need no key
    key_made = well.key.exists()
    unchanged = well.store.read_bytes() == before
    assert not key_made and unchanged

    well.key.write_bytes(key)  # recovery step 1: restore the key from the backup
    check = well("secrets", "check")
    assert check.exit_code == 0, check.output
    readable = [name for name, state in states(check.output).items() if state == "ok"]
    lost = len(VALUES) - len(readable)
    assert lost == 0
    assert well.leaked() == 0
    fault_outcome.record(observed=f"{sum(clean)} of {len(results)} commands (status, check, connect, set) exited 1 "
                                  f"with the recovery steps, no traceback; key created: {key_made}; store unchanged: "
                                  f"{unchanged}; key restored: check read {len(readable)} of {len(VALUES)}",
                         lost=lost, leaked=well.leaked())


@pytest.mark.fault(scenario="Wrong secret key (WELL_SECRET_KEY from another install)",
                   expected="writes refused before touching the store, reads fail with the store's key id and the "
                            "recovery steps; the right key still opens everything")
def test_wrong_key_is_refused_and_writes_nothing(tmp_path: Path, fault_outcome) -> None:
    well = Well(tmp_path)
    well.fill()
    before = well.store.read_bytes()
    wrong = Fernet.generate_key().decode()

    written = well("secrets", "set", "smtp_password", "--value-from-env", "VALUE_SMTP_PASSWORD",
                   WELL_SECRET_KEY=wrong)
    stored_key_id = json.loads(before).get("key_id")
    assert failed_cleanly(written, "cannot be decrypted with the key from $WELL_SECRET_KEY",
                          f"find the key with id {stored_key_id}", "well secrets reset --all"), written.output
    status = well("qonto", "status", WELL_SECRET_KEY=wrong)
    assert failed_cleanly(status, stored_key_id), status.output
    check = well("secrets", "check", WELL_SECRET_KEY=wrong)
    assert failed_cleanly(check, "no usable key"), check.output
    unreadable = [name for name, state in states(check.output).items() if state == "unreadable"]
    assert len(unreadable) == len(VALUES)
    unchanged = well.store.read_bytes() == before
    assert unchanged

    check = well("secrets", "check")  # the store's own key file
    readable = [name for name, state in states(check.output).items() if state == "ok"]
    assert check.exit_code == 0 and len(readable) == len(VALUES), check.output
    assert wrong not in "".join(well.outputs)
    fault_outcome.record(observed=f"set, status and check exited 1 naming the store's key id; check listed "
                                  f"{len(unreadable)} unreadable; store unchanged: {unchanged}; the store's own key "
                                  f"still reads {len(readable)} of {len(VALUES)}",
                         lost=len(VALUES) - len(readable), leaked=well.leaked())


@pytest.mark.fault(scenario="Secret store damaged (one entry garbled, then the whole file truncated)",
                   expected="check names the damaged secret and exits 1; reset NAME removes it, the others stay; "
                            "an unreadable file is moved aside by reset --all, never deleted")
def test_corrupted_store_is_repaired_through_the_cli(tmp_path: Path, fault_outcome) -> None:
    well = Well(tmp_path)
    well.fill()
    document = json.loads(well.store.read_text())
    document["secrets"]["smtp_password"]["ciphertext"] = "gAAAAABgarbled"
    well.store.write_text(json.dumps(document))

    check = well("secrets", "check")
    assert failed_cleanly(check, "damaged entry", "well secrets reset smtp_password"), check.output
    assert states(check.output) == {"qonto_client_secret": "ok", "qonto_refresh_token": "ok",
                                    "smtp_password": "unreadable"}
    assert well("secrets", "reset", "smtp_password", "--yes").exit_code == 0
    check = well("secrets", "check")
    assert check.exit_code == 0 and "smtp_password" not in states(check.output), check.output
    intact = sum(state == "ok" for state in states(check.output).values())

    well.store.write_bytes(well.store.read_bytes()[:40])  # truncated, e.g. a full disk under an older tool
    damaged = well.store.read_bytes()
    listed = well("secrets", "list")
    assert failed_cleanly(listed, "is unreadable (not valid JSON", "well secrets reset --all"), listed.output
    assert failed_cleanly(well("secrets", "reset", "qonto_client_secret", "--yes"), "well secrets reset --all")
    assert failed_cleanly(well("secrets", "check"), "is unreadable")
    reset = well("secrets", "reset", "--all", "--yes")
    assert reset.exit_code == 0 and "moved the secret store aside" in reset.output
    (aside,) = well.data.glob("secrets.enc.json.reset-*")
    assert aside.read_bytes() == damaged and not well.store.exists()
    assert well("secrets", "set", "smtp_password", "--value-from-env", "VALUE_SMTP_PASSWORD").exit_code == 0
    assert well("secrets", "check").exit_code == 0
    fault_outcome.record(observed=f"check exited 1 naming smtp_password; after `reset smtp_password` {intact} of "
                                  "2 intact secrets still ok; truncated file: list/reset NAME/check exited 1 pointing "
                                  "to reset --all, which moved it aside byte for byte; the new store works",
                         lost=2 - intact, leaked=well.leaked())


def test_read_only_commands_create_no_key_and_no_file(tmp_path: Path) -> None:
    well = Well(tmp_path)
    for args in (("qonto", "status"), ("secrets", "list"), ("secrets", "check"),
                 ("secrets", "delete", "smtp_password"), ("secrets", "reset", "--all", "--yes")):
        result = well(*args)
        assert result.exit_code == 0 and "Traceback" not in result.output, (args, result.output)
    assert not well.data.exists()
    assert "no key yet" in well("secrets", "check").output


def test_reset_asks_first_and_names_what_is_stored(tmp_path: Path) -> None:
    well = Well(tmp_path)
    well.fill()
    declined = well("secrets", "reset", "smtp_password", input="n\n")
    assert declined.exit_code == 1 and "Aborted" in declined.output
    assert "smtp_password" in well("secrets", "list").output
    confirmed = well("secrets", "reset", "smtp_password", input="y\n")
    assert confirmed.exit_code == 0 and "well secrets set smtp_password" in confirmed.output
    assert "smtp_password" not in well("secrets", "list").output
    unknown = well("secrets", "reset", "smtp_pasword", "--yes")
    assert failed_cleanly(unknown, "smtp_pasword is not in the secret store", "qonto_client_secret")
    usage = well("secrets", "reset")
    assert usage.exit_code == 2 and "give one secret NAME, or --all" in usage.output
    assert well.leaked() == 0


def test_key_file_apart_from_the_data_through_the_setting(tmp_path: Path) -> None:
    well = Well(tmp_path)
    key_file = tmp_path / "elsewhere" / "well.key"
    well.env["WELL_SECRET_KEY_FILE"] = str(key_file)
    well.fill()
    assert key_file.exists() and not well.key.exists()
    check = well("secrets", "check")
    assert check.exit_code == 0 and f"key file {key_file}" in check.output and "beside" not in check.output
    del well.env["WELL_SECRET_KEY_FILE"]
    assert failed_cleanly(well("qonto", "status"), "is missing")  # the default place holds no key: an error
    assert not well.key.exists()


def test_key_in_the_environment_needs_no_key_file(tmp_path: Path) -> None:
    well = Well(tmp_path)
    well.env["WELL_SECRET_KEY"] = Fernet.generate_key().decode()
    well.fill()
    assert sorted(p.name for p in well.data.iterdir()) == ["secrets.enc.json", "secrets.enc.json.lock"]
    check = well("secrets", "check")
    assert check.exit_code == 0 and "key:   $WELL_SECRET_KEY" in check.output and "note:" not in check.output
    assert well.env["WELL_SECRET_KEY"] not in "".join(well.outputs)


def test_a_key_beside_the_data_is_pointed_out(tmp_path: Path) -> None:
    well = Well(tmp_path)
    well.fill()
    check = well("secrets", "check")
    assert check.exit_code == 0 and "sits beside the data it protects" in check.output
    assert well.leaked() == 0


def test_status_reports_a_lost_key_even_when_qonto_is_not_connected(tmp_path: Path) -> None:
    well = Well(tmp_path)
    assert well("secrets", "set", "smtp_password", "--value-from-env", "VALUE_SMTP_PASSWORD").exit_code == 0
    assert "secret store: ok" in well("qonto", "status").output
    well.key.unlink()
    status = well("qonto", "status")
    assert failed_cleanly(status, "connected: unknown", "secret store: 1 problem(s)", "is missing")
    assert not well.key.exists()
