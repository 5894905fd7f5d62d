"""A string wrapper that keeps secret values out of reprs, logs and tracebacks.

Why: tokens and client secrets travel through dataclasses, Dagster resources and exception chains; one
`repr()` in a log line or a `locals()` dump in a crash report would leak them. Wrapping every secret in
`Secret` means code has to call `reveal()` on purpose, at the single place the plain value is needed
(usually an HTTP header or a form body).
"""

from __future__ import annotations

import hmac

__all__ = ["Secret"]


class Secret:
    """An opaque secret string: `repr`/`str` show `Secret('***')`; `reveal()` returns the value."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        if isinstance(value, Secret):
            value = value.reveal()
        if not isinstance(value, str):
            raise TypeError("Secret wraps a str")
        object.__setattr__(self, "_value", value)

    def reveal(self) -> str:
        """The plain value. Call it only where the value leaves the process (a header, a form body)."""
        return self._value

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("Secret is immutable")

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __format__(self, format_spec: str) -> str:
        return repr(self)

    def __bool__(self) -> bool:
        return bool(self._value)

    def __eq__(self, other: object) -> bool:
        # Constant-time comparison: equality checks on secrets should not leak a prefix through timing.
        if not isinstance(other, Secret):
            return NotImplemented
        return hmac.compare_digest(self._value.encode("utf-8"), other._value.encode("utf-8"))

    def __hash__(self) -> int:
        return hash(("Secret", self._value))

    def __reduce__(self) -> tuple[type[Secret], tuple[str]]:
        # Pickling (e.g. Dagster shipping a resource to a subprocess) must still round-trip.
        return (Secret, (self._value,))
