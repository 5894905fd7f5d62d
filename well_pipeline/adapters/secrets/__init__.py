"""Secrets at rest and in memory: `Secret` hides values from reprs; `SecretStore` keeps them encrypted."""

from well_pipeline.adapters.secrets.secret import Secret
from well_pipeline.adapters.secrets.store import (
    QONTO_API_SECRET,
    QONTO_CLIENT_SECRET,
    QONTO_REFRESH_TOKEN,
    QONTO_STAGING_TOKEN,
    SMTP_PASSWORD,
    SecretStore,
    SecretStoreError,
    StoredRefreshToken,
)

__all__ = ["QONTO_API_SECRET", "QONTO_CLIENT_SECRET", "QONTO_REFRESH_TOKEN", "QONTO_STAGING_TOKEN", "SMTP_PASSWORD",
           "Secret",
           "SecretStore", "SecretStoreError", "StoredRefreshToken"]
