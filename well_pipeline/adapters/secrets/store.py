"""Encrypted secret store: OAuth refresh tokens, client secrets and API keys at rest.

Why a file of its own rather than a DuckDB table: the Qonto refresh token rotates on every refresh and must
be persisted at once (Qonto invalidates the old one after a 60 s grace), possibly while another process
holds DuckDB's single write lock. A small file, replaced atomically under a file lock, never waits on that.

Each value is encrypted with Fernet (AES-128-CBC with HMAC-SHA256, from `cryptography`). The key comes from
`WELL_SECRET_KEY` (a Fernet key) or from a key file created on first use with mode 0600. For production,
keep the key outside the data directory (`WELL_SECRET_KEY_FILE`) or in the environment.
Environment variables `WELL_SECRET_<NAME>` override stored values (for CI and containers) and are never
written to disk.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken
from filelock import FileLock

from well_pipeline.adapters.secrets.secret import Secret

SECRET_ENV_PREFIX = "WELL_SECRET_"
KEY_ENV = "WELL_SECRET_KEY"
KEY_FILE_ENV = "WELL_SECRET_KEY_FILE"

# Well-known secret names.
QONTO_CLIENT_SECRET = "qonto_client_secret"
QONTO_REFRESH_TOKEN = "qonto_refresh_token"
QONTO_API_SECRET = "qonto_api_secret"
QONTO_STAGING_TOKEN = "qonto_staging_token"
SMTP_PASSWORD = "smtp_password"


class SecretStoreError(RuntimeError):
    """The store cannot be read or decrypted; the message never contains a secret value."""


class SecretStore:
    """Name → encrypted value, in one JSON file. Thread- and process-safe through a file lock."""

    def __init__(self, path: Path, *, key_file: Path | None = None,
                 environ: Mapping[str, str] | None = None) -> None:
        self._path = Path(path)
        self._environ = os.environ if environ is None else environ
        env_key_file = self._environ.get(KEY_FILE_ENV)
        self._key_file = Path(env_key_file) if env_key_file else (key_file or self._path.with_name("secret.key"))
        self._lock = FileLock(str(self._path) + ".lock")
        self._fernet: Fernet | None = None

    @property
    def path(self) -> Path:
        return self._path

    def __repr__(self) -> str:
        return f"SecretStore(path={str(self._path)!r})"

    # ---- key management ------------------------------------------------------------------------
    def _cipher(self) -> Fernet:
        if self._fernet is None:
            self._fernet = Fernet(self._load_or_create_key())
        return self._fernet

    def _load_or_create_key(self) -> bytes:
        env_key = self._environ.get(KEY_ENV)
        if env_key:
            return env_key.encode()
        if self._key_file.exists():
            return self._key_file.read_bytes().strip()
        self._key_file.parent.mkdir(parents=True, exist_ok=True)
        key = Fernet.generate_key()
        fd = os.open(self._key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(key)
        return key

    # ---- file access ---------------------------------------------------------------------------
    def _read_all(self) -> dict[str, dict[str, str]]:
        if not self._path.exists():
            return {}
        try:
            document = json.loads(self._path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise SecretStoreError(f"secret store {self._path} is not valid JSON (line {exc.lineno})") from None
        return dict(document.get("secrets", {}))

    def _write_all(self, entries: dict[str, dict[str, str]]) -> None:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self._path.parent, prefix=".secrets-", suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump({"format": "well-secrets/1 (fernet)", "secrets": entries}, fh, indent=2, sort_keys=True)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, self._path)

    # ---- public API ----------------------------------------------------------------------------
    def get(self, name: str) -> Secret | None:
        """The secret, from `WELL_SECRET_<NAME>` first, else decrypted from the store; None if absent."""
        env_value = self._environ.get(SECRET_ENV_PREFIX + name.upper())
        if env_value:
            return Secret(env_value)
        with self._lock:
            entry = self._read_all().get(name)
        if entry is None:
            return None
        try:
            return Secret(self._cipher().decrypt(entry["ciphertext"].encode()).decode("utf-8"))
        except (InvalidToken, KeyError):
            raise SecretStoreError(
                f"secret {name!r} in {self._path} cannot be decrypted: the key "
                f"({KEY_ENV} or {self._key_file}) is not the one it was stored with"
            ) from None

    def require(self, name: str, hint: str) -> Secret:
        secret = self.get(name)
        if secret is None:
            raise SecretStoreError(f"secret {name!r} is not set. {hint}")
        return secret

    def set(self, name: str, value: str | Secret) -> None:
        plain = value.reveal() if isinstance(value, Secret) else value
        token = self._cipher().encrypt(plain.encode("utf-8")).decode("ascii")
        with self._lock:
            entries = self._read_all()
            entries[name] = {"ciphertext": token, "updated_at": datetime.now(UTC).isoformat(timespec="seconds")}
            self._write_all(entries)

    def delete(self, name: str) -> bool:
        with self._lock:
            entries = self._read_all()
            existed = entries.pop(name, None) is not None
            if existed:
                self._write_all(entries)
        return existed

    def names(self) -> dict[str, str]:
        """Stored names with their last update time (values stay encrypted)."""
        with self._lock:
            return {name: entry.get("updated_at", "") for name, entry in self._read_all().items()}


class StoredRefreshToken:
    """Adapts the store to the Qonto OAuth token-store protocol (load/save the rotating refresh token)."""

    def __init__(self, store: SecretStore, name: str = QONTO_REFRESH_TOKEN) -> None:
        self._store = store
        self._name = name

    def load_refresh_token(self) -> str | None:
        secret = self._store.get(self._name)
        return secret.reveal() if secret else None

    def save_refresh_token(self, token: str) -> None:
        self._store.set(self._name, token)
