"""What one delivery run did, the error that stops a batch, and the clock delivery reads."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

Log = Callable[[str], None]
Clock = Callable[[], datetime]


class DeliveryStoppedError(RuntimeError):
    """The batch stopped: the relay is unreachable or does not answer within the deadline, so every further
    e-mail would wait and fail the same way. What was not sent waits for the next run."""


class DocumentStoreUnavailableError(DeliveryStoppedError):
    """The document store cannot be read (an object store down, a share unmounted, a permission lost), as
    opposed to one document missing from it. Holding every record for a person would turn a passing outage into
    a queue of holds to clear by hand; nothing is held or claimed instead, and the next run tries again."""

    def __init__(self, location: str, error: OSError, waiting: int) -> None:
        super().__init__(f"delivery stopped: the document store {location} cannot be read ({error}). Nothing was "
                         f"held or sent for it; {waiting} records wait for the next run. Check the store (settings "
                         "attachments_url and attachments_s3_endpoint_url, its credentials, or the disk)")


@dataclass
class DeliveryReport:
    """What one delivery run did. `remaining`: records to send that this run left for the next one (a quota,
    or a stop); `sent_today`: e-mails handed to the relay in the last 24 h (what a daily quota counts);
    `quota_resets_at`: when the daily quota lets the next one go (naive UTC), when it is used up; `paused`:
    why the batch paused early, None when it went through; `holds_lifted`: holds of records no longer released,
    lifted before planning; `claimed_elsewhere`: records another delivery process claimed after this run planned
    them (skipped, not sent)."""

    candidates: int = 0
    sent: int = 0
    resent: int = 0
    already_delivered: int = 0
    held: Counter = field(default_factory=Counter)
    outcomes: Counter = field(default_factory=Counter)
    interrupted_found: int = 0
    examples: list[str] = field(default_factory=list)
    seconds: float = 0.0
    daily_quota: int = 0
    sent_today: int = 0
    remaining: int = 0
    quota_resets_at: datetime | None = None
    paused: str | None = None
    throttled_s: float = 0.0
    holds_lifted: int = 0
    claimed_elsewhere: int = 0


def utc_clock() -> datetime:
    """Now as naive UTC, like the times the outbox stores (quota windows compare the two)."""
    return datetime.now(UTC).replace(tzinfo=None)
