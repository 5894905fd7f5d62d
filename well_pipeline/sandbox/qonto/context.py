"""Shared state of one running sandbox and the per-request `Call`, passed to every handler."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from .clock import Clock
from .config import SandboxConfig
from .faults import Fault, FaultRegistry
from .messages import Request
from .organizations import Organizations
from .rate_limit import SlidingWindowLimiter
from .signing import UrlSigner
from .stats import Stats


def exposure_cutoff(now: float, years: int) -> float | None:
    """Instant before which records are no longer exposed (None when the rule is disabled)."""
    if years <= 0:
        return None
    moment = datetime.fromtimestamp(now, UTC)
    try:
        shifted = moment.replace(year=moment.year - years)
    except ValueError:  # 29 February
        shifted = moment.replace(year=moment.year - years, day=28)
    return shifted.timestamp()


@dataclass
class SandboxContext:
    """Everything handlers need; one per QontoSandbox.

    Per-organisation state (dataset, listing cache, OAuth, per-org stats) lives in `orgs`; `stats`, `faults`, `limiter`
    and `signer` are the server's own (faults and rate-limit buckets can still be scoped to one organisation).
    """

    config: SandboxConfig
    clock: Clock
    orgs: Organizations
    signer: UrlSigner
    faults: FaultRegistry
    stats: Stats
    limiter: SlidingWindowLimiter
    stop_event: threading.Event = field(default_factory=threading.Event)
    base_url: str = ""

    def today(self) -> date:
        """Business 'today' for filter[due_date]."""
        return datetime.fromtimestamp(self.clock(), ZoneInfo(self.config.business_timezone)).date()

    def cutoff(self, now: float) -> float | None:
        """Exposure cutoff for this instant."""
        return exposure_cutoff(now, self.config.exposure_years)

    def pause(self, seconds: float) -> None:
        """Sleep that a server stop interrupts (latency and timeout faults must not block shutdown)."""
        if seconds > 0:
            self.stop_event.wait(seconds)


@dataclass
class Call:
    """One request being handled: when it started, its trace id and the fault applied to it, if any."""

    request: Request
    now: float
    trace_id: str
    fault: Fault | None = None
