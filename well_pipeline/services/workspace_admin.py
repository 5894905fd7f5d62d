"""Whether a workspace may be removed: what in its store still waits for Well or for a person.

Why it matters: `well workspace remove` deletes the workspace file, so Well stops syncing, delivering and showing
that company. Records still in flight would then be stranded without anyone noticing: released records the next
delivery run would send, e-mails being handed over right now (`sending`), and records waiting for a review
decision. Removal is refused while any exists, unless forced.
"""

from __future__ import annotations

from dataclasses import dataclass

from well_pipeline.adapters.storage import Storage


@dataclass(frozen=True)
class Unsettled:
    """Counts of what still waits: deliveries, hand-overs in progress, review decisions."""

    awaiting_delivery: int
    sending: int
    awaiting_review: int

    @property
    def total(self) -> int:
        return self.awaiting_delivery + self.sending + self.awaiting_review

    def describe(self) -> str:
        """In words, e.g. `2 awaiting delivery, 1 being sent, 3 awaiting a review decision`."""
        parts = [(self.awaiting_delivery, "awaiting delivery"), (self.sending, "being sent (outbox state sending)"),
                 (self.awaiting_review, "awaiting a review decision")]
        return ", ".join(f"{count} {what}" for count, what in parts if count) or "nothing"


def unsettled(storage: Storage) -> Unsettled:
    """What in `storage` is not settled yet (reads only: a read-only open serves it)."""
    states = dict(storage.outbox.status().states)
    waiting_review = storage.matches.queue(limit=0, decisions=("review",)).waiting
    return Unsettled(len(storage.outbox.awaiting_delivery()), states.get("sending", 0), waiting_review)
