"""The encrypted secret store: nothing plain on disk, private files, and a lost or wrong key never made worse."""

import json
import logging
import os
import stat
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from well_pipeline.adapters.secrets import (
    SecretKeyError,
    SecretStore,
    SecretStoreCorruptError,
    SecretStoreError,
    StoredRefreshToken,
)


def test_round_trip_and_nothing_plain_on_disk(tmp_path: Path) -> None:
    store = SecretStore(tmp_path / "secrets.enc.json", environ={})
    store.set("qonto_refresh_token", "ory_rt_very-secret-value")
    assert store.get("qonto_refresh_token").reveal() == "ory_rt_very-secret-value"
    assert "very-secret-value" not in (tmp_path / "secrets.enc.json").read_text()
    assert repr(store.get("qonto_refresh_token")) == "Secret('***')"
    key_mode = stat.S_IMODE((tmp_path / "secret.key").stat().st_mode)
    assert key_mode == 0o600
    assert stat.S_IMODE((tmp_path / "secrets.enc.json").stat().st_mode) == 0o600


def test_environment_overrides_and_is_not_persisted(tmp_path: Path) -> None:
    store = SecretStore(tmp_path / "s.json", environ={"WELL_SECRET_QONTO_API_SECRET": "from-env"})
    assert store.get("qonto_api_secret").reveal() == "from-env"
    assert not (tmp_path / "s.json").exists()


def test_wrong_key_is_a_clear_error_without_the_value(tmp_path: Path) -> None:
    SecretStore(tmp_path / "s.json", environ={}).set("qonto_client_secret", "hunter2-secret")
    other = SecretStore(tmp_path / "s.json", environ={"WELL_SECRET_KEY": Fernet.generate_key().decode()})
    with pytest.raises(SecretStoreError, match="cannot be decrypted") as info:
        other.get("qonto_client_secret")
    assert "hunter2" not in str(info.value)


def test_refresh_token_adapter_rotates(tmp_path: Path) -> None:
    store = SecretStore(tmp_path / "s.json", environ={})
    tokens = StoredRefreshToken(store)
    assert tokens.load_refresh_token() is None
    tokens.save_refresh_token("rt-1")
    tokens.save_refresh_token("rt-2")
    assert tokens.load_refresh_token() == "rt-2"
    assert store.delete("qonto_refresh_token") is True
    assert tokens.load_refresh_token() is None


# ---- the key's edges: lost, wrong, elsewhere; damaged entries; private files ---------------------------------


def _store(tmp_path: Path, **environ: str) -> SecretStore:
    return SecretStore(tmp_path / "secrets.enc.json", environ=environ)


def test_a_lost_key_is_an_error_with_recovery_steps_and_never_a_new_key(tmp_path: Path) -> None:
    _store(tmp_path).set("qonto_client_secret", "hunter2-secret")
    (tmp_path / "secret.key").unlink()
    before = (tmp_path / "secrets.enc.json").read_bytes()
    for action in (lambda s: s.get("qonto_client_secret"), lambda s: s.set("smtp_password", "new-value")):
        with pytest.raises(SecretKeyError) as info:
            action(_store(tmp_path))
        message = str(info.value)
        assert "is missing" in message and str(tmp_path / "secret.key") in message
        assert "backup" in message and "well secrets reset --all" in message and "well qonto connect" in message
        assert "hunter2" not in message and "new-value" not in message
    assert not (tmp_path / "secret.key").exists()
    assert (tmp_path / "secrets.enc.json").read_bytes() == before


def test_a_key_is_created_only_for_a_store_without_secrets(tmp_path: Path) -> None:
    store = _store(tmp_path)
    store.set("qonto_client_secret", "one")
    first_key = (tmp_path / "secret.key").read_bytes()
    assert stat.S_IMODE((tmp_path / "secret.key").stat().st_mode) == 0o600
    (tmp_path / "secret.key").unlink()
    store = _store(tmp_path)
    assert store.delete("qonto_client_secret") is True  # reset needs no key
    store.set("qonto_client_secret", "two")  # nothing left to protect: a new key is fine
    assert (tmp_path / "secret.key").read_bytes() != first_key
    assert _store(tmp_path).get("qonto_client_secret").reveal() == "two"


def test_a_wrong_key_never_writes_a_second_key_into_the_store(tmp_path: Path) -> None:
    _store(tmp_path).set("qonto_client_secret", "hunter2-secret")
    before = (tmp_path / "secrets.enc.json").read_bytes()
    wrong = _store(tmp_path, WELL_SECRET_KEY=Fernet.generate_key().decode())
    with pytest.raises(SecretKeyError, match="the store was written with the key whose id is"):
        wrong.set("smtp_password", "other-secret")
    assert (tmp_path / "secrets.enc.json").read_bytes() == before


def test_a_store_without_key_id_still_tells_a_wrong_key_from_a_damaged_entry(tmp_path: Path) -> None:
    key = Fernet.generate_key()
    (tmp_path / "secret.key").write_bytes(key)
    fernet = Fernet(key)
    legacy = {"format": "well-secrets/1 (fernet)", "secrets": {
        "qonto_client_secret": {"ciphertext": fernet.encrypt(b"client-value").decode(), "updated_at": "t"},
        "smtp_password": {"ciphertext": "gAAAAAB-damaged", "updated_at": "t"}}}
    (tmp_path / "secrets.enc.json").write_text(json.dumps(legacy))
    store = _store(tmp_path)
    assert store.get("qonto_client_secret").reveal() == "client-value"
    with pytest.raises(SecretStoreCorruptError, match="well secrets reset smtp_password"):
        store.get("smtp_password")
    with pytest.raises(SecretKeyError, match="none of its 2 secret"):
        _store(tmp_path, WELL_SECRET_KEY=Fernet.generate_key().decode()).get("qonto_client_secret")
    store.set("qonto_staging_token", "staging")  # the right key: written, and the store learns its key id
    assert json.loads((tmp_path / "secrets.enc.json").read_text())["key_id"]


def test_check_lists_names_and_states_never_values(tmp_path: Path) -> None:
    store = _store(tmp_path, WELL_SECRET_SMTP_PASSWORD="from-env-value")
    store.set("qonto_client_secret", "client-value")
    store.set("qonto_refresh_token", "refresh-value")
    document = json.loads((tmp_path / "secrets.enc.json").read_text())
    document["secrets"]["qonto_refresh_token"]["ciphertext"] = "garbage"
    (tmp_path / "secrets.enc.json").write_text(json.dumps(document))
    report = store.check()
    states = {(s.name, s.state) for s in report.secrets}
    assert states == {("qonto_client_secret", "ok"), ("qonto_refresh_token", "unreadable"),
                      ("smtp_password", "from-env")}
    assert not report.ok and "well secrets reset qonto_refresh_token" in report.problems[0]
    assert any("beside" in note for note in report.notes)
    text = repr(report)
    assert "client-value" not in text and "refresh-value" not in text and "from-env-value" not in text


def test_key_from_the_environment_creates_no_file_and_a_bad_one_is_named_not_shown(tmp_path: Path) -> None:
    key = Fernet.generate_key().decode()
    store = _store(tmp_path, WELL_SECRET_KEY=key)
    store.set("smtp_password", "value")
    assert not (tmp_path / "secret.key").exists()
    assert _store(tmp_path, WELL_SECRET_KEY=key).get("smtp_password").reveal() == "value"
    assert _store(tmp_path, WELL_SECRET_KEY=key).check().notes == []  # not beside the data
    with pytest.raises(SecretKeyError, match="WELL_SECRET_KEY is set but does not hold a Fernet key") as info:
        _store(tmp_path, WELL_SECRET_KEY="not-a-key-at-all").get("smtp_password")
    assert "not-a-key-at-all" not in str(info.value)


def test_key_file_apart_from_the_data(tmp_path: Path) -> None:
    key_file = tmp_path / "keys" / "well" / "secret.key"
    data = tmp_path / "data"
    store = SecretStore(data / "secrets.enc.json", key_file=key_file, environ={})
    store.set("qonto_api_secret", "api-value")
    assert key_file.exists() and stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(key_file.parent.stat().st_mode) == 0o700
    assert sorted(p.name for p in data.iterdir()) == ["secrets.enc.json", "secrets.enc.json.lock"]
    assert store.check().ok and store.check().notes == []
    with pytest.raises(SecretKeyError, match="is missing"):  # the default place holds no key
        SecretStore(data / "secrets.enc.json", environ={}).get("qonto_api_secret")


def test_reset_all_moves_an_unreadable_store_aside(tmp_path: Path) -> None:
    (tmp_path / "secrets.enc.json").write_text('{"secrets": {"qonto_client_secret": ')
    store = _store(tmp_path)
    with pytest.raises(SecretStoreCorruptError, match="not valid JSON"):
        store.names()
    with pytest.raises(SecretStoreCorruptError, match="well secrets reset --all"):
        store.set("qonto_client_secret", "x")
    aside = store.reset_all()
    assert aside is not None and aside.read_text() == '{"secrets": {"qonto_client_secret": '
    store.set("qonto_client_secret", "fresh")
    assert store.get("qonto_client_secret").reveal() == "fresh"


def test_store_files_left_open_are_tightened_on_open(tmp_path: Path, caplog) -> None:
    _store(tmp_path).set("smtp_password", "value")
    for name in ("secrets.enc.json", "secret.key", "secrets.enc.json.lock"):
        os.chmod(tmp_path / name, 0o644)
    os.chmod(tmp_path, 0o755)
    with caplog.at_level(logging.WARNING, logger="well_pipeline.adapters.filesystem"):
        _store(tmp_path)
    for name in ("secrets.enc.json", "secret.key", "secrets.enc.json.lock"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o600, name
        assert f"tightened permissions of {tmp_path / name} from 0644 to 0600" in caplog.text
    assert stat.S_IMODE(tmp_path.stat().st_mode) == 0o700
