"""Relay sending quotas: how many e-mails may leave now, and whether a server answer says "quota reached".

Why: Well sends through the user's own relay, and relays cap submissions (about 2,000 messages a day for a
Google Workspace account, 500 for a free Gmail account; Microsoft 365 about 30 messages a minute and 10,000
recipients a day per mailbox). A 3-year backfill can hold more auto-linked bills than a day allows. Past the
cap a relay refuses with a 4xx (or 5xx) quota text, and hammering it only lengthens the lock-out. So Well keeps
under the configured limits itself, and treats a quota answer as "stop for now, carry the rest over", never as
a failure of the bill.

Both windows are rolling (the last 60 s, the last 24 h), the safe reading: Google documents its daily limit
over a rolling 24-hour period; whether every relay counts that way (or resets at midnight) is UNCONFIRMED, and
a rolling window never sends more than a calendar day would allow. Sends are counted from the delivery audit
(`delivery_attempts`), so a restart or a second run the same day does not reset the count.
Pure: the caller passes times (naive UTC datetimes) and the history.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

__all__ = ["DAY", "MINUTE", "SendQuota", "SendWindow", "is_quota_reply"]

MINUTE = timedelta(seconds=60)
DAY = timedelta(hours=24)

# 4xx answers a relay gives when a rate or quota is exceeded (421 often also closes the connection).
_QUOTA_4XX = frozenset({421, 450, 451, 452})
_QUOTA_4XX_TEXT = re.compile(r"\brate\b|ratelimit|rate[- ]limit|quota|\blimit(s|ed|ing)?\b|too many", re.IGNORECASE)
# Some relays answer a quota with a 5xx (Gmail "550 5.4.5 Daily user sending quota exceeded", Microsoft 365
# "554 5.2.0 ... SubmissionQuotaExceededException"). Read as a quota only with an unambiguous text: a bare
# "limit" in a 5xx is usually the message size ("552 5.3.4 ... exceeds fixed limit"), a real refusal.
_QUOTA_5XX = frozenset({550, 554})
_QUOTA_5XX_TEXT = re.compile(r"quota|rate[- ]?limit|sending limit|too many (messages|mails|emails|recipients)",
                             re.IGNORECASE)


def is_quota_reply(code: int | None, text: str) -> bool:
    """True when an SMTP answer says a sending rate or quota was exceeded (try later, not this bill's fault)."""
    if code in _QUOTA_4XX:
        return bool(_QUOTA_4XX_TEXT.search(text or ""))
    if code in _QUOTA_5XX:
        return bool(_QUOTA_5XX_TEXT.search(text or ""))
    return False


@dataclass(frozen=True)
class SendQuota:
    """The configured ceilings (settings `smtp_max_per_minute`, `smtp_max_per_day`); 0 = unlimited."""

    per_minute: int = 0
    per_day: int = 0

    def __post_init__(self) -> None:
        if self.per_minute < 0 or self.per_day < 0:
            raise ValueError("quota limits must be 0 (unlimited) or positive")


class SendWindow:
    """The e-mails handed to the relay in the last 24 h, and what the quota still allows.

    Built from the audit's send times, then told of each new send (`record`). Times are naive UTC.
    """

    def __init__(self, quota: SendQuota, sent_at: Iterable[datetime] = ()) -> None:
        self.quota = quota
        self._sent = sorted(sent_at)

    def record(self, moment: datetime) -> None:
        """One more e-mail handed to the relay at `moment`."""
        bisect.insort(self._sent, moment)

    def _since(self, start: datetime) -> list[datetime]:
        return self._sent[bisect.bisect_right(self._sent, start):]

    def sent_last_day(self, now: datetime) -> int:
        """E-mails sent in the 24 h up to `now` (what "sent today" means for a rolling quota)."""
        return len(self._since(now - DAY))

    def day_left(self, now: datetime) -> int | None:
        """How many more may go within the daily quota now; None without a daily quota."""
        if not self.quota.per_day:
            return None
        return max(self.quota.per_day - self.sent_last_day(now), 0)

    def day_resets_at(self, now: datetime) -> datetime | None:
        """When the next e-mail fits in the daily quota again (None: it fits now, or no daily quota)."""
        if not self.quota.per_day:
            return None
        recent = self._since(now - DAY)
        over = len(recent) - self.quota.per_day
        if over < 0:
            return None
        # The day frees one slot when the (over + 1)-th oldest send of the window is 24 h old.
        return recent[over] + DAY

    def minute_wait(self, now: datetime) -> float:
        """Seconds to wait before the next e-mail fits in the per-minute quota (0.0: send now)."""
        if not self.quota.per_minute:
            return 0.0
        recent = self._since(now - MINUTE)
        over = len(recent) - self.quota.per_minute
        if over < 0:
            return 0.0
        return max((recent[over] + MINUTE - now).total_seconds(), 0.0)
