"""Injected failures, so client code can be tested against the ways a real API misbehaves.

A fault matches requests whose path starts with `path_prefix` (and, optionally, whose method matches) and
fires for the next `times` matching requests (None = until cleared). The first registered matching fault
wins; each request consumes at most one fault. Kinds (see docs/CONTRACTS.md):

- status: answer `status` (e.g. 429/500/503) with the errors envelope, optional Retry-After `retry_after`;
- html: 200 text/html (a gateway/login page where JSON was expected);
- malformed_json: 200 application/json whose body is the real answer cut in half;
- timeout: sleep `delay_s` before answering normally (clients with a shorter timeout give up);
- disconnect: close the socket without answering;
- unknown_field: add an unexpected field (`field`, `value`) to every supplier invoice returned;
- slow_body: answer normally but trickle the response at `rate_bps` bytes per second (slow-loris); with
  `include_headers` the status line and headers are trickled too, else only the body. Works on any path
  (list pages, attachment metadata, `/_files/` downloads, `/oauth2/token`);
- shifted_page: on a list page k+1 >= 2 (only page `page` when given), repeat the last record of page k first
  and drop the record that should have opened page k+1, `meta.total_count` unchanged. This is what tied sort
  keys do to page-number paging when two records swap places between two requests (reference §12). Only list
  requests for page 2 or later consume it.

With `org` set, a fault only fires for requests of that organisation (the one the request's credential,
client_id or download URL names), so one workspace's outage can be staged while the others run normally.
"""

from __future__ import annotations

import itertools
import threading
from dataclasses import asdict, dataclass
from typing import Any

FAULT_KINDS = ("status", "html", "malformed_json", "timeout", "disconnect", "unknown_field", "slow_body",
               "shifted_page")
DEFAULT_UNKNOWN_FIELD = "sandbox_unannounced_field"


class FaultSpecError(ValueError):
    """A fault description that cannot be honoured."""


@dataclass
class Fault:
    """One registered fault and how many more times it fires."""

    id: int
    path_prefix: str
    kind: str
    times: int | None = 1
    method: str | None = None
    status: int | None = None
    retry_after: float | None = None
    delay_s: float = 30.0
    field: str = DEFAULT_UNKNOWN_FIELD
    value: Any = "unexpected"
    rate_bps: float = 1.0
    include_headers: bool = False
    page: int | None = None
    org: str | None = None
    fired: int = 0

    def applies_to_page(self, page: int | None) -> bool:
        """shifted_page only fires on list pages after the first (a given one when `page` is set)."""
        if self.kind != "shifted_page":
            return True
        if page is None or page < 2:
            return False
        return self.page is None or self.page == page

    def describe(self) -> dict[str, Any]:
        """JSON-friendly description (returned by the control endpoint)."""
        return asdict(self)


def build_fault(fault_id: int, spec: dict[str, Any]) -> Fault:
    """Validate a fault description (keys as in the control endpoint's JSON body)."""
    allowed = {"path_prefix", "kind", "times", "method", "status", "retry_after", "delay_s", "field", "value",
               "rate_bps", "include_headers", "page", "org"}
    unknown = set(spec) - allowed
    if unknown:
        raise FaultSpecError(f"unknown fault parameters: {sorted(unknown)}")
    kind = spec.get("kind")
    if kind not in FAULT_KINDS:
        raise FaultSpecError(f"kind must be one of {FAULT_KINDS}")
    path_prefix = spec.get("path_prefix", "/")
    if not isinstance(path_prefix, str) or not path_prefix.startswith("/"):
        raise FaultSpecError("path_prefix must be a string starting with '/'")
    if path_prefix.startswith("/_sandbox"):
        raise FaultSpecError("control endpoints cannot be faulted")
    times = spec.get("times", 1)
    if times is not None and (not isinstance(times, int) or isinstance(times, bool) or times < 1):
        raise FaultSpecError("times must be a positive integer or null (forever)")
    method = spec.get("method")
    if method is not None and not isinstance(method, str):
        raise FaultSpecError("method must be a string")
    org = spec.get("org")
    if org is not None and (not isinstance(org, str) or not org):
        raise FaultSpecError("org must be an organisation name")
    fault = Fault(
        id=fault_id, path_prefix=path_prefix, kind=kind, times=times, method=method and method.upper(), org=org
    )
    if kind == "status":
        status = spec.get("status")
        if not isinstance(status, int) or isinstance(status, bool) or not 400 <= status <= 599:
            raise FaultSpecError("a status fault needs an integer 'status' between 400 and 599")
        fault.status = status
        retry_after = spec.get("retry_after")
        if retry_after is not None and (not isinstance(retry_after, int | float) or retry_after < 0):
            raise FaultSpecError("retry_after must be a non-negative number of seconds")
        fault.retry_after = retry_after
    elif "status" in spec or "retry_after" in spec:
        raise FaultSpecError("'status'/'retry_after' only apply to kind 'status'")
    if kind == "timeout":
        delay = spec.get("delay_s", 30.0)
        if not isinstance(delay, int | float) or delay < 0:
            raise FaultSpecError("delay_s must be a non-negative number")
        fault.delay_s = float(delay)
    if kind == "unknown_field":
        field_name = spec.get("field", DEFAULT_UNKNOWN_FIELD)
        if not isinstance(field_name, str) or not field_name:
            raise FaultSpecError("field must be a non-empty string")
        fault.field = field_name
        fault.value = spec.get("value", "unexpected")
    if kind == "slow_body":
        rate = spec.get("rate_bps", 1.0)
        if not isinstance(rate, int | float) or isinstance(rate, bool) or rate <= 0:
            raise FaultSpecError("rate_bps must be a positive number of bytes per second")
        include_headers = spec.get("include_headers", False)
        if not isinstance(include_headers, bool):
            raise FaultSpecError("include_headers must be true or false")
        fault.rate_bps, fault.include_headers = float(rate), include_headers
    elif "rate_bps" in spec or "include_headers" in spec:
        raise FaultSpecError("'rate_bps'/'include_headers' only apply to kind 'slow_body'")
    if kind == "shifted_page":
        page = spec.get("page")
        if page is not None and (not isinstance(page, int) or isinstance(page, bool) or page < 2):
            raise FaultSpecError("page must be an integer >= 2 (the page that repeats its predecessor's last record)")
        fault.page = page
    elif "page" in spec:
        raise FaultSpecError("'page' only applies to kind 'shifted_page'")
    return fault


class FaultRegistry:
    """Thread-safe list of active faults."""

    def __init__(self, org_names: tuple[str, ...] | None = None) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self._ids = itertools.count(1)
        self._org_names = org_names

    def add(self, spec: dict[str, Any]) -> Fault:
        """Register a fault from its description; raises FaultSpecError."""
        org = spec.get("org")
        if org is not None and self._org_names is not None and org not in self._org_names:
            raise FaultSpecError(f"no organisation {org!r}; known: {', '.join(self._org_names)}")
        with self._lock:
            fault = build_fault(next(self._ids), spec)
            self._faults.append(fault)
            return fault

    def clear(self, org: str | None = None) -> None:
        """Remove every fault (only those scoped to `org` when given)."""
        with self._lock:
            self._faults = [] if org is None else [fault for fault in self._faults if fault.org != org]

    def active(self, org: str | None = None) -> list[dict[str, Any]]:
        """Descriptions of the faults still armed (only those scoped to `org` when given)."""
        with self._lock:
            return [fault.describe() for fault in self._faults if org is None or fault.org == org]

    def take(self, method: str, path: str, page: int | None = None, org: str | None = None) -> Fault | None:
        """The fault to apply to this request (consuming one use), or None. `page`: the `page` query value;
        `org`: the organisation the request claims (org-scoped faults fire only for theirs)."""
        with self._lock:
            for fault in self._faults:
                if not path.startswith(fault.path_prefix):
                    continue
                if fault.org is not None and fault.org != org:
                    continue
                if fault.method is not None and fault.method != method:
                    continue
                if not fault.applies_to_page(page):
                    continue
                fault.fired += 1
                if fault.times is not None:
                    fault.times -= 1
                    if fault.times <= 0:
                        self._faults.remove(fault)
                return fault
        return None
