"""A faithful, loopback-only stand-in for Melio's email-in inbox (not production code).

    from well_pipeline.sandbox.melio import MelioInbox, InboxConfig
    with MelioInbox(store_dir, InboxConfig(port=0, tls_port=0)) as inbox:
        ...  # SMTP: STARTTLS on inbox.port, implicit TLS on inbox.tls_port, CA file inbox.cert_path
        inbox.messages(), inbox.drafts()

Melio has no write API: it drafts a bill from each invoice e-mailed to the workspace's `@invoicesmelio.com`
address. Behaviour follows /work/shared/reference/melio-and-peers.md A.1-A.2; choices where Melio's docs are
silent are marked UNCONFIRMED in the module that makes them.
"""

from .config import InboxConfig
from .faults import FaultSpecError
from .models import Attachment, DraftBill, ReceivedMessage, Rejection
from .server import MelioInbox
from .store import InboxStore

__all__ = [
    "Attachment",
    "DraftBill",
    "FaultSpecError",
    "InboxConfig",
    "InboxStore",
    "MelioInbox",
    "ReceivedMessage",
    "Rejection",
]
