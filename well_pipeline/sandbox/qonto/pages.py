"""Non-JSON bodies the real services return: Qonto's sandbox login page and S3's XML errors."""

from __future__ import annotations

import secrets
from xml.sax.saxutils import escape

STAGING_LOGIN_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Sign in | Qonto</title>
<meta name="robots" content="noindex">
</head>
<body>
<main id="login">
<h1>Sign in to Qonto</h1>
<p>This environment is protected. Sign in with your Qonto staging account to continue.</p>
<form method="post" action="https://qonto.onelogin.com/login">
<label>Email <input type="email" name="email" autocomplete="username"></label>
<label>Password <input type="password" name="password" autocomplete="current-password"></label>
<button type="submit">Sign in</button>
</form>
</main>
</body>
</html>
"""

FAULT_HTML_PAGE = """<!DOCTYPE html>
<html>
<head><title>502 Bad Gateway</title></head>
<body>
<center><h1>502 Bad Gateway</h1></center>
<p>The upstream server is temporarily unavailable. Please try again later.</p>
<hr><center>gateway</center>
</body>
</html>
"""


def s3_error(code: str, message: str, extra: dict[str, str] | None = None) -> bytes:
    """An S3-style XML error document (AccessDenied, NoSuchKey...)."""
    parts = [f"<Code>{escape(code)}</Code>", f"<Message>{escape(message)}</Message>"]
    for key, value in (extra or {}).items():
        parts.append(f"<{key}>{escape(value)}</{key}>")
    parts.append(f"<RequestId>{secrets.token_hex(8).upper()}</RequestId>")
    parts.append(f"<HostId>{secrets.token_urlsafe(48)}</HostId>")
    return ('<?xml version="1.0" encoding="UTF-8"?>\n<Error>' + "".join(parts) + "</Error>").encode()
