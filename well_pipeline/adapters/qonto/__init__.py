"""Qonto Business API client: supplier invoices and their attachments (see client.py for the design).

Public surface used by services and the Dagster layer: `QontoClient` and its `QontoClientConfig`, the two auth
classes and the OAuth connect helpers, the record types and the error hierarchy.
"""

from well_pipeline.adapters.qonto.auth import (
    ApiKeyAuth,
    AuthorizeRequest,
    InMemoryTokenStore,
    OAuthTokenAuth,
    TokenSet,
    TokenStore,
    build_authorize_url,
    exchange_code,
)
from well_pipeline.adapters.qonto.callback import OAuthCallback
from well_pipeline.adapters.qonto.client import (
    AttachmentDownload,
    AttachmentFailure,
    AttachmentInfo,
    ClientStats,
    InvoicePage,
    QontoClient,
)
from well_pipeline.adapters.qonto.config import QontoClientConfig
from well_pipeline.adapters.qonto.errors import (
    QontoAPIError,
    QontoAuthError,
    QontoConfigError,
    QontoError,
    QontoNotFoundError,
    QontoProtocolError,
    QontoRateLimited,
    QontoScopeError,
    QontoTimeoutError,
    QontoTransportError,
)
from well_pipeline.adapters.qonto.rate_limiter import DEFAULT_WINDOWS, RateLimiter, RateWindow
from well_pipeline.adapters.qonto.records import (
    KNOWN_FIELDS,
    Money,
    RecordParseError,
    RecordResult,
    RejectedRecord,
    SupplierInvoice,
    parse_record,
    parse_supplier_invoice,
)

__all__ = [
    "DEFAULT_WINDOWS",
    "KNOWN_FIELDS",
    "ApiKeyAuth",
    "AttachmentDownload",
    "AttachmentFailure",
    "AttachmentInfo",
    "AuthorizeRequest",
    "ClientStats",
    "InMemoryTokenStore",
    "InvoicePage",
    "Money",
    "OAuthCallback",
    "OAuthTokenAuth",
    "QontoAPIError",
    "QontoAuthError",
    "QontoClient",
    "QontoClientConfig",
    "QontoConfigError",
    "QontoError",
    "QontoNotFoundError",
    "QontoProtocolError",
    "QontoRateLimited",
    "QontoScopeError",
    "QontoTimeoutError",
    "QontoTransportError",
    "RateLimiter",
    "RateWindow",
    "RecordParseError",
    "RecordResult",
    "RejectedRecord",
    "SupplierInvoice",
    "TokenSet",
    "TokenStore",
    "build_authorize_url",
    "exchange_code",
    "parse_record",
    "parse_supplier_invoice",
]
