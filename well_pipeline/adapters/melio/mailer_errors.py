"""Configuration problems of the SMTP relay: raised, never returned as an outcome, because no retry can fix them.

Each error's text ends with what to fix, and `error.settings` names the settings (README table) and the secret
behind it, so the run fails red with the setting to change instead of retrying for hours.
"""

from __future__ import annotations

__all__ = [
    "AUTH_SETTINGS",
    "CERTIFICATE_SETTINGS",
    "STARTTLS_FIX",
    "STARTTLS_SETTINGS",
    "TLS_FIX",
    "TLS_SETTINGS",
    "MailerAuthError",
    "MailerError",
    "MailerTlsError",
]

# The settings (README table) and secret behind each configuration problem, named in the error's text.
TLS_SETTINGS = ("smtp_host", "smtp_port", "smtp_security")
CERTIFICATE_SETTINGS = ("smtp_ca_file", "smtp_host")
STARTTLS_SETTINGS = ("smtp_security", "smtp_port")
AUTH_SETTINGS = ("smtp_username", "smtp_password")

TLS_FIX = ("Fix the settings smtp_host and smtp_port (a submission service that offers TLS 1.3) or smtp_security "
           "('starttls' for port 587, 'tls' for port 465)")
STARTTLS_FIX = ("Fix the setting smtp_security ('tls' if this port speaks TLS from the first byte, e.g. 465) or "
                "smtp_port (587 offers STARTTLS)")


class MailerError(Exception):
    """A configuration problem no retry can fix (raised, not returned as an outcome).

    `settings` names what to fix (Well's setting names; `smtp_password` is the secret of that name).
    """

    def __init__(self, message: str, *, settings: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.settings = settings


class MailerAuthError(MailerError):
    """The server refused the credentials, or offers no AUTH after TLS."""


class MailerTlsError(MailerError):
    """TLS could not be established as required (certificate, TLS 1.3, STARTTLS not offered)."""
