"""The encrypted secret store: values never hit the disk in plain text, the key file is private."""

import stat
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from well_pipeline.adapters.secrets import SecretStore, SecretStoreError, StoredRefreshToken


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
