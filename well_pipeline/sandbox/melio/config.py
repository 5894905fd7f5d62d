"""Configuration of the Melio inbox sandbox.

Defaults mirror Melio's documented email-in rules (../shared/reference/melio-and-peers.md A.1): the inbox
address ends in `@invoicesmelio.com`, each invoice is a PDF/JPEG/PNG/GIF attachment of at most 10 MB. The
SMTP side (TLS 1.3 only, AUTH only after TLS) is what a mailer must survive against any modern relay.

The credentials below are public sandbox-only demo values (documented in the README); they grant access to
nothing but a loopback SMTP server.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

MELIO_MAX_ATTACHMENT_BYTES = 10 * 1024 * 1024


@dataclass(frozen=True)
class InboxConfig:
    """Everything that shapes the inbox's behaviour; immutable once the server runs."""

    host: str = "127.0.0.1"
    # STARTTLS listener (submission style); 0 = ephemeral, read the real one from MelioInbox.port.
    port: int = 2525
    # Implicit-TLS listener (SMTPS style); 0 = ephemeral, read MelioInbox.tls_port.
    tls_port: int = 2465
    # Demo credentials for AUTH PLAIN/LOGIN (offered only once the connection is encrypted).
    username: str = "well"
    password: str = "well-sandbox-smtp-secret"
    require_auth: bool = True
    # RCPT outside this domain gets 550 (Melio's inbox addresses all end in @invoicesmelio.com).
    accepted_domain: str = "invoicesmelio.com"
    # When set, only these local parts (case-insensitive) exist at the domain; others get 550 "no such
    # mailbox", like a real workspace address typo would. None accepts any local part.
    accepted_local_parts: tuple[str, ...] | None = None
    # Melio's per-file limit; a larger attachment is kept in the message but becomes no draft.
    max_attachment_bytes: int = MELIO_MAX_ATTACHMENT_BYTES
    # SMTP SIZE limit for a whole message. Larger than the attachment limit on purpose: an 11 MB invoice
    # must reach the inbox (and be rejected there, with a reason), as it would at Melio.
    max_message_bytes: int = 40 * 1024 * 1024
    # Name in the 220 greeting and EHLO reply.
    server_hostname: str = "inbox.invoicesmelio.sandbox"
    # Idle timeout of a connection, seconds (aiosmtpd closes it with no reply after this long).
    idle_timeout_s: float = 60.0
    # Certificate and key; None = a self-signed pair kept in STORE/tls/ (reused while valid).
    tls_cert: Path | str | None = None
    tls_key: Path | str | None = None
    # The one TLS version both listeners speak: "1.3" (Melio-like, what Well requires) or "1.2" (an old relay,
    # so tests can check that Well refuses it instead of retrying for hours).
    tls_version: str = "1.3"
    # False: the STARTTLS listener never offers STARTTLS (a misconfigured relay, or a middlebox stripping it);
    # mail is then refused in plain text and AUTH is never offered.
    offer_starttls: bool = True

    def __post_init__(self) -> None:
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("tls_cert and tls_key must be set together")
        for name in ("port", "tls_port"):
            value = getattr(self, name)
            if not 0 <= value <= 65535:
                raise ValueError(f"{name} must be between 0 and 65535")
        if self.port and self.port == self.tls_port:
            raise ValueError("port and tls_port must differ")
        if self.max_attachment_bytes <= 0 or self.max_message_bytes <= 0:
            raise ValueError("size limits must be > 0")
        if not self.accepted_domain or "@" in self.accepted_domain:
            raise ValueError("accepted_domain is a bare domain such as 'invoicesmelio.com'")
        if self.require_auth and not (self.username and self.password):
            raise ValueError("require_auth needs a username and a password")
        if self.idle_timeout_s <= 0:
            raise ValueError("idle_timeout_s must be > 0")
        if self.tls_version not in ("1.2", "1.3"):
            raise ValueError("tls_version must be '1.2' or '1.3'")

    def __repr__(self) -> str:
        # The password never appears in reprs, logs or tracebacks.
        shown = {name: getattr(self, name) for name in self.__dataclass_fields__ if name != "password"}
        inner = ", ".join(f"{name}={value!r}" for name, value in shown.items())
        return f"InboxConfig({inner}, password='***')"
