"""Encrypted secret store: OAuth refresh tokens, client secrets and API keys at rest.

Why a file of its own rather than a DuckDB table: the Qonto refresh token rotates on every refresh and must
be persisted at once (Qonto invalidates the old one after a 60 s grace), possibly while another process
holds DuckDB's single write lock. A small file, replaced atomically under a file lock, never waits on that.

Each value is encrypted with Fernet (AES-128-CBC with HMAC-SHA256, from `cryptography`). The key comes from
`WELL_SECRET_KEY` (the key itself) or from a key file (setting `secret_key_file`, default beside the store).
Environment variables `WELL_SECRET_<NAME>` override stored values (for CI and containers) and are never
written to disk.

Why a lost key is an error and never a new key: a new key can open none of the stored secrets, and a store
whose entries were written with two keys can be opened by neither. So a key is only created when the store
holds no secret yet (the first `well secrets set` or `well qonto connect`); otherwise every path that needs
the key fails with what happened, which file, and how to recover. The store records a fingerprint of its key
(`key_id`, an HMAC of a constant under the key, which reveals nothing about the key) so a wrong key is told
apart from a damaged entry, and no entry is ever written under a key other than the store's.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from filelock import FileLock

from well_pipeline.adapters.filesystem import PRIVATE_FILE_MODE, private_dir, tighten, write_private
from well_pipeline.adapters.secrets.secret import Secret

logger = logging.getLogger(__name__)

SECRET_ENV_PREFIX = "WELL_SECRET_"
KEY_ENV = "WELL_SECRET_KEY"
STORE_FORMAT = "well-secrets/1 (fernet)"

# Well-known secret names.
QONTO_CLIENT_SECRET = "qonto_client_secret"
QONTO_REFRESH_TOKEN = "qonto_refresh_token"
QONTO_API_SECRET = "qonto_api_secret"
QONTO_STAGING_TOKEN = "qonto_staging_token"
SMTP_PASSWORD = "smtp_password"
KNOWN_SECRETS = (QONTO_CLIENT_SECRET, QONTO_API_SECRET, QONTO_STAGING_TOKEN, QONTO_REFRESH_TOKEN, SMTP_PASSWORD)


class SecretStoreError(RuntimeError):
    """The store cannot be read, decrypted or written; the message says how to recover, never a secret value."""


class SecretKeyError(SecretStoreError):
    """The key is missing, malformed, or not the one the store was written with."""


class SecretStoreCorruptError(SecretStoreError):
    """The store file, or one entry in it, is damaged."""


def key_id(key: bytes) -> str:
    """A short public fingerprint of a Fernet key: tells keys apart without revealing them."""
    return hmac.new(key, b"well-secret-key-id/1", hashlib.sha256).hexdigest()[:16]


def _reset_hint(names: Iterable[str], *, reconnect: bool = False) -> str:
    """How to put secrets back once their old values are gone (names only, never values).

    `reconnect` when the whole store goes: the Qonto refresh token goes with it, so OAuth must be approved again.
    """
    stored = sorted(set(names))
    plain = [n for n in stored if n != QONTO_REFRESH_TOKEN]
    steps = []
    if plain:
        steps.append(f"set {', '.join(plain)} again with `well secrets set NAME`")
    elif not stored:
        steps.append("set your secrets again with `well secrets set NAME`")
    if reconnect or QONTO_REFRESH_TOKEN in stored or not stored:
        steps.append("reconnect Qonto with `well qonto connect`")
    return " and ".join(steps)


@dataclass(frozen=True)
class _Key:
    fernet: Fernet
    key_id: str
    source: str  # "$WELL_SECRET_KEY" or "key file <path>"


@dataclass
class _Document:
    """The store file's content: `secrets` maps name → {"ciphertext", "updated_at"}."""

    secrets: dict[str, Any] = field(default_factory=dict)
    key_id: str | None = None


@dataclass(frozen=True)
class SecretStatus:
    """One name in `SecretStore.check()`: `state` is ok, unreadable, from-env (never values)."""

    name: str
    state: str
    updated_at: str = ""
    detail: str = ""


@dataclass
class StoreReport:
    """What `SecretStore.check()` found: per-secret states, problems (with recovery steps) and notes."""

    store: Path
    key_source: str
    key_id: str | None
    secrets: list[SecretStatus] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


class SecretStore:
    """Name → encrypted value, in one JSON file. Writes are process-safe through a file lock.

    Reads take no lock: every write replaces the file atomically, so a reader sees one whole version. Reading
    therefore creates nothing (no lock file, no folder, no key), which keeps read-only commands read-only.
    """

    def __init__(self, path: Path, *, key_file: Path | None = None,
                 environ: Mapping[str, str] | None = None) -> None:
        self._path = Path(path)
        self._environ = os.environ if environ is None else environ
        self._key_file = Path(key_file) if key_file else self._path.with_name("secret.key")
        self._lock_path = Path(str(self._path) + ".lock")
        self._lock = FileLock(str(self._lock_path), mode=PRIVATE_FILE_MODE)
        self._key: _Key | None = None
        # Files from before the 0600 rule are tightened on open (see adapters/filesystem.py).
        if self._path.parent.is_dir():
            tighten(self._path.parent)
        for existing in (self._path, self._lock_path, self._key_file):
            tighten(existing)

    @property
    def path(self) -> Path:
        return self._path

    @property
    def key_file(self) -> Path:
        return self._key_file

    def __repr__(self) -> str:
        return f"SecretStore(path={str(self._path)!r})"

    # ---- messages ------------------------------------------------------------------------------
    def _key_places(self) -> str:
        return (f"restore it to {self._key_file} (mode 0600), or set {KEY_ENV} to it, or point the setting "
                f"secret_key_file (WELL_SECRET_KEY_FILE) at it; then run `well secrets check`")

    def _lost_for_good(self, names: Iterable[str]) -> str:
        return (f"if the key is lost for good: `well secrets reset --all` (moves {self._path.name} aside, "
                f"nothing is deleted), then {_reset_hint(names, reconnect=True)}")

    def _missing_key_error(self, names: Iterable[str]) -> SecretKeyError:
        stored = sorted(names)
        return SecretKeyError(
            f"the secret store {self._path} holds {len(stored)} encrypted secret(s) ({', '.join(stored)}) but its "
            f"key file {self._key_file} is missing and {KEY_ENV} is not set. Well does not make a new key: a new "
            f"key could never open these secrets.\nTo recover:\n"
            f"  1. find the key in your backup and {self._key_places()};\n"
            f"  2. or, {self._lost_for_good(stored)}."
        )

    def _wrong_key_error(self, key: _Key, document: _Document) -> SecretKeyError:
        names = sorted(document.secrets)
        if document.key_id:
            why = f"the store was written with the key whose id is {document.key_id}"
            find = f"find the key with id {document.key_id} in your backup"
        else:
            why = f"none of its {len(names)} secret(s) opens with it, so it is not the key they were stored with"
            find = "find this store's key in your backup"
        return SecretKeyError(
            f"the secrets in {self._path} cannot be decrypted with the key from {key.source} (key id "
            f"{key.key_id}): {why}. Nothing was changed.\nTo recover:\n"
            f"  1. {find} and {self._key_places()};\n"
            f"  2. or, {self._lost_for_good(names)}."
        )

    def _damaged_entry_error(self, name: str) -> SecretStoreCorruptError:
        return SecretStoreCorruptError(
            f"secret {name!r} in {self._path} is damaged: it cannot be decrypted although the key is this "
            f"store's. To recover: `well secrets reset {name}`, then {_reset_hint([name])}."
        )

    def _corrupt_store_error(self, detail: str) -> SecretStoreCorruptError:
        return SecretStoreCorruptError(
            f"the secret store {self._path} is unreadable ({detail}). Nothing was changed.\nTo recover: "
            f"restore {self._path.name} from your backup, or `well secrets reset --all` (moves it aside, nothing "
            f"is deleted), then {_reset_hint([])}."
        )

    # ---- key management ------------------------------------------------------------------------
    def _parse_key(self, raw: bytes, source: str) -> _Key:
        try:
            fernet = Fernet(raw)
        except (ValueError, TypeError):
            where = f"{KEY_ENV} is set but does not hold" if source == f"${KEY_ENV}" else f"{source} does not hold"
            raise SecretKeyError(
                f"{where} a Fernet key (44 URL-safe base64 characters): it is damaged, or not a key.\n"
                f"To recover: find this store's key in your backup and {self._key_places()}."
            ) from None
        return _Key(fernet, key_id(raw), source)

    def _load_key(self, document: _Document, *, may_create: bool) -> _Key:
        """The key; created (0600) only when `may_create` and the store holds no secret yet."""
        if self._key is not None:
            return self._key
        env_key = self._environ.get(KEY_ENV)
        if env_key:
            self._key = self._parse_key(env_key.strip().encode(), f"${KEY_ENV}")
            return self._key
        source = f"key file {self._key_file}"
        try:
            raw = self._key_file.read_bytes()
        except FileNotFoundError:
            if document.secrets:
                raise self._missing_key_error(document.secrets) from None
            if not may_create:
                raise SecretKeyError(f"no key yet at {self._key_file} (the first `well secrets set` creates it)"
                                     ) from None
            raw = self._create_key_file()
        except OSError as exc:
            raise SecretKeyError(f"{source} cannot be read ({exc.strerror}); check its owner and mode "
                                 "(it should be 0600, owned by the user running Well)") from None
        self._key = self._parse_key(raw.strip(), source)
        return self._key

    def _create_key_file(self) -> bytes:
        if not self._key_file.parent.is_dir():
            private_dir(self._key_file.parent)
        key = Fernet.generate_key()
        try:
            write_private(self._key_file, key, exclusive=True)
        except FileExistsError:  # another process made it first: use theirs
            return self._key_file.read_bytes()
        logger.info("created the secret store key %s (keep a backup of it apart from the data)", self._key_file)
        return key

    def _decrypt(self, key: _Key, entry: Any) -> str | None:
        """The plain value, or None when this entry cannot be decrypted with `key`."""
        try:
            return key.fernet.decrypt(str(entry["ciphertext"]).encode()).decode("utf-8")
        except (InvalidToken, KeyError, TypeError, UnicodeError):
            return None

    def _check_key_matches(self, key: _Key, document: _Document) -> None:
        """Refuse a key that is not the store's (by fingerprint, or for stores without one by trying)."""
        if not document.secrets:
            return
        if document.key_id:
            if document.key_id != key.key_id:
                raise self._wrong_key_error(key, document)
        elif not any(self._decrypt(key, entry) is not None for entry in document.secrets.values()):
            raise self._wrong_key_error(key, document)

    # ---- file access ---------------------------------------------------------------------------
    def _read_document(self) -> _Document:
        try:
            text = self._path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return _Document()
        except UnicodeDecodeError:
            raise self._corrupt_store_error("not UTF-8 text") from None
        try:
            document = json.loads(text)
        except json.JSONDecodeError as exc:
            raise self._corrupt_store_error(f"not valid JSON, line {exc.lineno}") from None
        if not isinstance(document, dict) or not isinstance(document.get("secrets", {}), dict):
            raise self._corrupt_store_error("not a Well secret store document")
        stored_key_id = document.get("key_id")
        return _Document(dict(document.get("secrets", {})), stored_key_id if isinstance(stored_key_id, str) else None)

    def _write_document(self, entries: Mapping[str, Any], stored_key_id: str | None) -> None:
        document: dict[str, Any] = {"format": STORE_FORMAT, "secrets": dict(entries)}
        if stored_key_id:
            document["key_id"] = stored_key_id
        write_private(self._path, json.dumps(document, indent=2, sort_keys=True).encode("utf-8"))

    # ---- public API ----------------------------------------------------------------------------
    def get(self, name: str) -> Secret | None:
        """The secret, from `WELL_SECRET_<NAME>` first, else decrypted from the store; None if absent."""
        env_value = self._environ.get(SECRET_ENV_PREFIX + name.upper())
        if env_value:
            return Secret(env_value)
        document = self._read_document()
        entry = document.secrets.get(name)
        if entry is None:
            return None
        key = self._load_key(document, may_create=False)
        if document.key_id and document.key_id != key.key_id:
            raise self._wrong_key_error(key, document)
        plain = self._decrypt(key, entry)
        if plain is None:
            others = (e for n, e in document.secrets.items() if n != name)
            if document.key_id or any(self._decrypt(key, e) is not None for e in others):
                raise self._damaged_entry_error(name)
            raise self._wrong_key_error(key, document)
        return Secret(plain)

    def require(self, name: str, hint: str) -> Secret:
        secret = self.get(name)
        if secret is None:
            raise SecretStoreError(f"secret {name!r} is not set. {hint}")
        return secret

    def set(self, name: str, value: str | Secret) -> None:
        """Encrypt and store `value`. Creates the key only if the store holds no secret yet."""
        plain = value.reveal() if isinstance(value, Secret) else value
        private_dir(self._path.parent)
        with self._lock:
            document = self._read_document()
            key = self._load_key(document, may_create=True)
            self._check_key_matches(key, document)
            token = key.fernet.encrypt(plain.encode("utf-8")).decode("ascii")
            entries = dict(document.secrets)
            entries[name] = {"ciphertext": token, "updated_at": datetime.now(UTC).isoformat(timespec="seconds")}
            self._write_document(entries, key.key_id)

    def delete(self, name: str) -> bool:
        """Remove `name` (readable or not; no key needed). False if it was not stored."""
        if not self._path.exists():
            return False
        with self._lock:
            document = self._read_document()
            existed = document.secrets.pop(name, None) is not None
            if existed:
                self._write_document(document.secrets, document.key_id)
        return existed

    def reset_all(self) -> Path | None:
        """Move the whole store aside (e.g. when it is unreadable or its key is lost); returns where to.

        Nothing is deleted: if the key turns up later, the moved file can be put back. A key file that holds
        no valid key is moved aside too, so the next `well secrets set` can start afresh.
        """
        if not self._path.exists():
            return None
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        with self._lock:
            aside = self._path.with_name(f"{self._path.name}.reset-{stamp}")
            os.replace(self._path, aside)
            if not self._environ.get(KEY_ENV) and self._key_file.exists():
                try:
                    Fernet(self._key_file.read_bytes().strip())
                except (ValueError, TypeError):
                    os.replace(self._key_file, self._key_file.with_name(f"{self._key_file.name}.reset-{stamp}"))
        self._key = None
        logger.warning("moved the secret store %s aside to %s", self._path, aside)
        return aside

    def names(self) -> dict[str, str]:
        """Stored names with their last update time (values stay encrypted)."""
        return {name: (entry.get("updated_at", "") if isinstance(entry, dict) else "")
                for name, entry in self._read_document().secrets.items()}

    def check(self, known: Iterable[str] = KNOWN_SECRETS) -> StoreReport:
        """Whether the key opens every stored secret: per-name states and problems, never a value, no writes."""
        env_key = self._environ.get(KEY_ENV)
        report = StoreReport(self._path, f"${KEY_ENV}" if env_key else f"key file {self._key_file}", None)
        try:
            document = self._read_document()
        except SecretStoreCorruptError as exc:
            report.problems.append(str(exc))
            document = _Document()
        key: _Key | None = None
        try:
            key = self._load_key(document, may_create=False)
            report.key_id = key.key_id
        except SecretKeyError as exc:
            if document.secrets:
                report.problems.append(str(exc))
            elif not env_key and not self._key_file.exists():
                report.notes.append(f"no key yet: the first `well secrets set` creates {self._key_file}")
            else:
                report.problems.append(str(exc))
            if not env_key and not self._key_file.exists():
                report.key_source += " (missing)"
        wrong_key = False
        if key is not None and document.secrets:
            try:
                self._check_key_matches(key, document)
            except SecretKeyError as exc:
                wrong_key = True
                report.problems.append(str(exc))
        for name in sorted(document.secrets):
            entry = document.secrets[name]
            updated = entry.get("updated_at", "") if isinstance(entry, dict) else ""
            if key is None or wrong_key:
                report.secrets.append(SecretStatus(name, "unreadable", updated, "no usable key"))
            elif self._decrypt(key, entry) is None:
                report.secrets.append(SecretStatus(name, "unreadable", updated, "damaged entry"))
                report.problems.append(str(self._damaged_entry_error(name)))
            else:
                report.secrets.append(SecretStatus(name, "ok", updated))
        for name in known:
            variable = SECRET_ENV_PREFIX + name.upper()
            if self._environ.get(variable):
                report.secrets.append(SecretStatus(name, "from-env", detail=f"{variable} overrides the store"))
        if not env_key and self._key_file.parent.resolve() == self._path.parent.resolve():
            report.notes.append(f"the key file {self._key_file} sits beside the data it protects; keep it apart "
                                "(setting secret_key_file, or WELL_SECRET_KEY), see the README's Security section")
        return report


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
