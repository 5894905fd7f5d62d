"""Are the stored Qonto documents intact? The use case behind the `attachments_match_their_digest` check.

Why: the document e-mailed to Melio must be the bytes Qonto served. Each stored document must exist with its recorded
size; re-hashing every file on every run would read the whole store, so a spread sample (`sample` files, every
n-th by attachment id) is re-hashed and a changed byte in a sampled file is caught.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from well_pipeline.adapters.storage import AttachmentStore, InvoiceStore

DIGEST_SAMPLE = 200


@dataclass
class DocumentAudit:
    """What the audit found, by attachment id."""

    documents: int = 0
    missing: list[str] = field(default_factory=list)
    wrong_size: list[str] = field(default_factory=list)
    wrong_digest: list[str] = field(default_factory=list)

    @property
    def bad(self) -> list[str]:
        return self.missing + self.wrong_size + self.wrong_digest


def audit_documents(invoices: InvoiceStore, documents: AttachmentStore, *, sample: int = DIGEST_SAMPLE
                    ) -> DocumentAudit:
    """Check every stored document's file and size, and re-hash about `sample` of them."""
    digests = invoices.attachment_digests()
    audit = DocumentAudit(documents=len(digests))
    every = max(len(digests) // sample, 1)
    for index, stored in enumerate(digests):
        size = documents.size(stored.sha256)
        if size is None:
            audit.missing.append(stored.attachment_id)
        elif size != stored.size_bytes:
            audit.wrong_size.append(stored.attachment_id)
        elif index % every == 0 and hashlib.sha256(documents.read(stored.sha256)).hexdigest() != stored.sha256:
            audit.wrong_digest.append(stored.attachment_id)
    return audit
