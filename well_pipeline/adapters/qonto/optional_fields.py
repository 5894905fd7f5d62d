"""Lenient parsing of the optional supplier-invoice fields Qonto serves beyond its documented examples.

Why lenient: these fields (`supplier_id`, `issuer_name`, `self_invoice_id`, `related_invoices`,
`request_transfer`, `transfer_ids`, `matched_transactions[_ids]`, `einvoicing_lifecycle_events`,
`available_actions`) are auxiliary. Their shapes are UNCONFIRMED beyond qontoctl's probe and the docs'
examples (reference qonto-api.md §12), and rejecting a whole invoice because one of them looks odd would lose
a bill. So a malformed value becomes a readable warning, never a `RecordParseError`; the record keeps `raw`.

The rules:

- `null`, an absent key and `[]` all mean "none".
- Identifiers are non-empty strings, stripped of outer whitespace; an empty one is "none" (an empty
  `supplier_id` must never become a key shared by every record without one). The UUID format is not
  enforced: these values are only compared for equality.
- Payment evidence is read conservatively. A payment field (`request_transfer`, `transfer_ids`,
  `matched_transactions`, `matched_transactions_ids`) whose value is anything but null/absent/`[]` counts as
  a payment link even when malformed: a false link holds a bill back for a person, a missed one risks paying
  it twice. The SQL backfill of migration 4 (adapters/storage/schema.py) applies the same rule.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = [
    "PAYMENT_LINK_FIELDS",
    "AvailableActions",
    "OptionalFields",
    "is_present",
    "parse_optional_fields",
    "payment_links",
]

# Link name -> the raw keys that provide it, in the order of `payment_links`.
PAYMENT_LINK_FIELDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("request_transfer", ("request_transfer",)),
    ("transfer_ids", ("transfer_ids",)),
    ("matched_transactions", ("matched_transactions", "matched_transactions_ids")),
)
_ACTIONS = ("delete", "archive", "unarchive", "pay")


@dataclass(frozen=True)
class AvailableActions:
    """What Qonto lets a user do with the invoice now, and the reason codes for what it does not.

    A flag is None when Qonto did not send it (or sent a non-boolean); reasons are codes such as
    `invalid_status`, `missing_iban`, `is_credit_note`.
    """

    delete: bool | None = None
    archive: bool | None = None
    unarchive: bool | None = None
    pay: bool | None = None
    pay_reasons: tuple[str, ...] = ()
    delete_reasons: tuple[str, ...] = ()
    archive_reasons: tuple[str, ...] = ()
    unarchive_reasons: tuple[str, ...] = ()


@dataclass(frozen=True)
class OptionalFields:
    """The typed optional fields of one record, plus the warnings their malformed values raised."""

    supplier_id: str | None = None
    issuer_name: str | None = None
    self_invoice_id: str | None = None
    related_invoice_ids: tuple[str, ...] = ()
    request_transfer_id: str | None = None
    transfer_ids: tuple[str, ...] = ()
    matched_transaction_ids: tuple[str, ...] = ()
    einvoicing_events: tuple[str, ...] = ()
    available_actions: AvailableActions | None = None
    payment_links: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()


def is_present(value: Any) -> bool:
    """True unless the value means "none" (null/absent or an empty list); malformed values are present."""
    return value is not None and value != []


def _get(raw: dict[str, Any], name: str) -> Any:
    """The raw value with `[]` read as null: both mean "none" for every optional field, objects included."""
    value = raw.get(name)
    return None if value == [] else value


class _Warnings:
    """Collects `field: reason` lines; reasons name types, never values (they could be long or personal)."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def add(self, name: str, reason: str) -> None:
        self.lines.append(f"{name}: {reason}")


def _kind(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def _id_or_none(value: Any, name: str, warnings: _Warnings) -> str | None:
    """A stripped non-empty string, else None (with a warning unless the value is null)."""
    if value is None:
        return None
    if not isinstance(value, str):
        warnings.add(name, f"expected a string, got {_kind(value)}")
        return None
    return value.strip() or None


def _list(value: Any, name: str, warnings: _Warnings) -> list[Any]:
    """The list itself; null means none, any other non-list is a warning (and none)."""
    if value is None:
        return []
    if not isinstance(value, list):
        warnings.add(name, f"expected a list, got {_kind(value)}")
        return []
    return value


def _item_id(item: Any, label: str, warnings: _Warnings, key: str | None) -> str | None:
    """The id an item of an id list carries: the item itself (a string) or, with `key`, `item[key]`."""
    if key is not None and isinstance(item, dict):
        value, label = item.get(key), f"{label}.{key}"
    elif isinstance(item, str):
        value = item
    else:
        expected = f"an object with {key}" if key is not None else "an id string"
        warnings.add(label, f"expected {expected}, got {_kind(item)}")
        return None
    if value is None or (isinstance(value, str) and not value.strip()):
        warnings.add(label, "missing or empty")
        return None
    return _id_or_none(value, label, warnings)


def _ids(value: Any, name: str, warnings: _Warnings, key: str | None = None) -> list[str]:
    """Distinct ids of a list, in order. With `key`, items are objects holding the id under `key` (a bare
    id string is accepted too: it says the same thing)."""
    found: list[str] = []
    for position, item in enumerate(_list(value, name, warnings)):
        ident = _item_id(item, f"{name}[{position}]", warnings, key)
        if ident is not None and ident not in found:
            found.append(ident)
    return found


def _request_transfer_id(value: Any, warnings: _Warnings) -> str | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        warnings.add("request_transfer", f"expected an object {{id, initiator_id}}, got {_kind(value)}")
        return None
    return _item_id(value, "request_transfer", warnings, "id")


def _einvoicing_events(value: Any, warnings: _Warnings) -> tuple[str, ...]:
    """Status codes of the lifecycle events, in the order Qonto lists them (timestamps are not needed)."""
    name = "einvoicing_lifecycle_events"
    codes: list[str] = []
    for position, event in enumerate(_list(value, name, warnings)):
        label = f"{name}[{position}]"
        if not isinstance(event, dict):
            warnings.add(label, f"expected an object, got {_kind(event)}")
            continue
        code = _item_id(event, label, warnings, "status_code")
        if code is not None:
            codes.append(code)
    return tuple(codes)


def _flag(actions: dict[str, Any], action: str, warnings: _Warnings) -> bool | None:
    value = actions.get(action)
    if value is None or isinstance(value, bool):
        return value
    warnings.add(f"available_actions.{action}", f"expected a boolean, got {_kind(value)}")
    return None


def _available_actions(value: Any, warnings: _Warnings) -> AvailableActions | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        warnings.add("available_actions", f"expected an object, got {_kind(value)}")
        return None
    reasons = value.get("reasons")
    if reasons is not None and not isinstance(reasons, dict):
        warnings.add("available_actions.reasons", f"expected an object, got {_kind(reasons)}")
        reasons = None
    codes = {action: tuple(_ids((reasons or {}).get(action), f"available_actions.reasons.{action}", warnings))
             for action in _ACTIONS}
    return AvailableActions(
        delete=_flag(value, "delete", warnings),
        archive=_flag(value, "archive", warnings),
        unarchive=_flag(value, "unarchive", warnings),
        pay=_flag(value, "pay", warnings),
        pay_reasons=codes["pay"],
        delete_reasons=codes["delete"],
        archive_reasons=codes["archive"],
        unarchive_reasons=codes["unarchive"],
    )


def payment_links(raw: dict[str, Any]) -> tuple[str, ...]:
    """Names among request_transfer, transfer_ids, matched_transactions whose raw value is present."""
    return tuple(link for link, keys in PAYMENT_LINK_FIELDS if any(is_present(raw.get(k)) for k in keys))


def parse_optional_fields(raw: dict[str, Any]) -> OptionalFields:
    """Read the optional fields of one record object; never raises on their values."""
    warnings = _Warnings()
    matched = _ids(raw.get("matched_transactions"), "matched_transactions", warnings, key="transaction_id")
    for ident in _ids(raw.get("matched_transactions_ids"), "matched_transactions_ids", warnings):
        if ident not in matched:
            matched.append(ident)
    return OptionalFields(
        supplier_id=_id_or_none(_get(raw, "supplier_id"), "supplier_id", warnings),
        issuer_name=_id_or_none(_get(raw, "issuer_name"), "issuer_name", warnings),
        self_invoice_id=_id_or_none(_get(raw, "self_invoice_id"), "self_invoice_id", warnings),
        related_invoice_ids=tuple(_ids(raw.get("related_invoices"), "related_invoices", warnings, key="id")),
        request_transfer_id=_request_transfer_id(_get(raw, "request_transfer"), warnings),
        transfer_ids=tuple(_ids(raw.get("transfer_ids"), "transfer_ids", warnings)),
        matched_transaction_ids=tuple(matched),
        einvoicing_events=_einvoicing_events(raw.get("einvoicing_lifecycle_events"), warnings),
        available_actions=_available_actions(_get(raw, "available_actions"), warnings),
        payment_links=payment_links(raw),
        warnings=tuple(warnings.lines),
    )
