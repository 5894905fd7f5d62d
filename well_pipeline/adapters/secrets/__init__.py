"""Secrets at rest and in memory: `Secret` hides values from reprs; `SecretStore` keeps them encrypted."""

from well_pipeline.adapters.secrets.secret import Secret
from well_pipeline.adapters.secrets.store import (
    KNOWN_SECRETS,
    QONTO_API_SECRET,
    QONTO_CLIENT_SECRET,
    QONTO_REFRESH_TOKEN,
    QONTO_STAGING_TOKEN,
    SMTP_PASSWORD,
    SecretKeyError,
    SecretStatus,
    SecretStore,
    SecretStoreCorruptError,
    SecretStoreError,
    StoredRefreshToken,
    StoreReport,
)

__all__ = ["KNOWN_SECRETS", "QONTO_API_SECRET", "QONTO_CLIENT_SECRET", "QONTO_REFRESH_TOKEN", "QONTO_STAGING_TOKEN",
           "SMTP_PASSWORD", "Secret", "SecretKeyError", "SecretStatus", "SecretStore", "SecretStoreCorruptError",
           "SecretStoreError", "StoreReport", "StoredRefreshToken"]
