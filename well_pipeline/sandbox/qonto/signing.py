"""Pre-signed download URLs for attachments (Qonto hands out S3-style URLs valid 30 minutes).

`/_files/<attachment_id>?expires=<unix>&signature=<hex hmac-sha256>` on the sandbox itself; the key is
random per server instance, so URLs from a previous run are refused like a rotated S3 key would be.
Downloads need no Authorization header, exactly like a pre-signed URL.

An organisation other than the default one is named in the URL (`&org=<name>`) and in the signed message,
so a URL serves that organisation's file only: changing or dropping `org` breaks the signature.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
from enum import Enum
from urllib.parse import quote


class UrlCheck(Enum):
    """Why a download URL is (not) acceptable."""

    OK = "ok"
    EXPIRED = "expired"
    BAD_SIGNATURE = "bad_signature"


class UrlSigner:
    """Signs and verifies download URLs."""

    def __init__(self, key: bytes | None = None) -> None:
        self._key = key or secrets.token_bytes(32)

    def _signature(self, attachment_id: str, expires: int, org: str) -> str:
        message = f"{attachment_id}\n{expires}\n{org}".encode()
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()

    def sign(self, base_url: str, attachment_id: str, now: float, ttl_s: float, org: str = "") -> str:
        """Absolute URL valid until now + ttl_s (rounded up to the second); `org` "" is the default one."""
        expires = math.ceil(now + ttl_s)
        signature = self._signature(attachment_id, expires, org)
        scoped = f"&org={quote(org, safe='')}" if org else ""
        return (
            f"{base_url}/_files/{quote(attachment_id, safe='')}?expires={expires}{scoped}&signature={signature}"
        )

    def verify(
        self, attachment_id: str, expires: str | None, signature: str | None, now: float, org: str = ""
    ) -> UrlCheck:
        """Check a URL's signature first (a forged expiry must not read as 'expired'), then its expiry."""
        if not expires or not signature or not expires.isdigit():
            return UrlCheck.BAD_SIGNATURE
        expected = self._signature(attachment_id, int(expires), org)
        if not hmac.compare_digest(expected, signature):
            return UrlCheck.BAD_SIGNATURE
        if now >= int(expires):
            return UrlCheck.EXPIRED
        return UrlCheck.OK
