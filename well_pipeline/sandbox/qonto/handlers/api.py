"""The /v2 Business API resources the pipeline uses (reference §3-§6, §11).

Authentication and scope checks come first (as on the real gateway), then parameter validation.
Records created more than `exposure_years` ago are invisible everywhere: list, get and their attachments.

Every handler serves the caller's organisation only (`principal.org`, see organizations.py): its dataset,
its organisation record, its consent. Another organisation's invoice or attachment id answers 404
not_found, exactly like an id that does not exist: Qonto's docs do not say what a foreign id returns
(UNCONFIRMED), and 404 is the answer that reveals nothing about another organisation's records.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from ..auth import Principal, require_any_scope, require_bearer
from ..context import Call, SandboxContext
from ..dataset import InvoiceRow, content_type_for
from ..errors import TRACE_HEADER, not_found, unprocessable
from ..listing import paginate, parse_list_query, shift_page
from ..messages import JSON_CONTENT_TYPE, Response
from ..organizations import Organization


def _ok(call: Call, payload: Any) -> Response:
    return Response.json(200, payload, [(TRACE_HEADER, call.trace_id)])


def _unknown_field(call: Call) -> tuple[str, Any] | None:
    fault = call.fault
    if fault is not None and fault.kind == "unknown_field":
        return fault.field, fault.value
    return None


def _record_bytes(row: InvoiceRow, extra: tuple[str, Any] | None) -> bytes:
    if extra is None:
        return row.json_bytes()
    record = dict(row.record)
    record[extra[0]] = extra[1]
    return json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _decorate(obj: dict[str, Any], call: Call) -> dict[str, Any]:
    extra = _unknown_field(call)
    if extra is None:
        return obj
    return {**obj, extra[0]: extra[1]}


def _exposed_row(ctx: SandboxContext, call: Call, row: InvoiceRow | None) -> InvoiceRow | None:
    if row is None:
        return None
    cutoff = ctx.cutoff(call.now)
    if cutoff is not None and row.created < cutoff:
        return None
    return row


def list_supplier_invoices(ctx: SandboxContext, call: Call, principal: Principal) -> Response:
    """GET /v2/supplier_invoices."""
    require_any_scope(principal, ["supplier_invoice.read"])
    query, page = parse_list_query(call.request.query)
    snapshot = principal.org.dataset.current()
    first_exposed = snapshot.first_exposed_index(ctx.cutoff(call.now))
    rows = principal.org.listing.results(snapshot, query, first_exposed, ctx.today())
    page_rows, meta = paginate(rows, page)
    if call.fault is not None and call.fault.kind == "shifted_page":
        page_rows = shift_page(rows, page)
    extra = _unknown_field(call)
    body = b"".join(
        [
            b'{"supplier_invoices":[',
            b",".join(_record_bytes(row, extra) for row in page_rows),
            b'],"meta":',
            json.dumps(meta, separators=(",", ":")).encode(),
            b"}",
        ]
    )
    return Response(200, body, JSON_CONTENT_TYPE, [(TRACE_HEADER, call.trace_id)])


def get_supplier_invoice(ctx: SandboxContext, call: Call, principal: Principal, invoice_id: str) -> Response:
    """GET /v2/supplier_invoices/{id}, wrapped as {"supplier_invoice": {...}}."""
    require_any_scope(principal, ["supplier_invoice.read"])
    snapshot = principal.org.dataset.current()
    row = _exposed_row(ctx, call, snapshot.by_id.get(invoice_id))
    if row is None:
        raise not_found("Supplier invoice not found", parameter="id")
    body = b'{"supplier_invoice":' + _record_bytes(row, _unknown_field(call)) + b"}"
    return Response(200, body, JSON_CONTENT_TYPE, [(TRACE_HEADER, call.trace_id)])


def get_attachment(ctx: SandboxContext, call: Call, principal: Principal, attachment_id: str) -> Response:
    """GET /v2/attachments/{id}: metadata plus a pre-signed URL valid download_url_ttl_s."""
    # Qonto's reference lists organization.read; its scopes page says attachment.read suffices for
    # invoice PDFs. Which applies is UNCONFIRMED, so either is accepted.
    require_any_scope(principal, ["attachment.read", "organization.read"])
    dataset = principal.org.dataset
    snapshot = dataset.current()
    row = _exposed_row(ctx, call, snapshot.by_attachment.get(attachment_id))
    path = dataset.attachment_path(attachment_id) if row is not None else None
    if row is None or path is None:
        raise not_found("Attachment not found", parameter="id")
    size = str(path.stat().st_size)
    content_type = content_type_for(path)
    file_name = row.file_name if attachment_id == row.attachment_id and row.file_name else path.name
    url = ctx.signer.sign(
        ctx.base_url, attachment_id, call.now, ctx.config.download_url_ttl_s, url_org(ctx, principal.org)
    )
    # The probative copy is a PAdES PDF, which only exists for PDFs (status values UNCONFIRMED).
    probative: dict[str, str | None]
    if content_type == "application/pdf":
        probative = {
            "status": "available",
            "file_name": file_name,
            "file_content_type": content_type,
            "file_size": size,
            "url": url,
        }
    else:
        probative = {
            "status": "unavailable",
            "file_name": None,
            "file_content_type": None,
            "file_size": None,
            "url": None,
        }
    attachment = {
        "id": attachment_id,
        "created_at": row.created_at,
        "file_name": file_name,
        "file_size": size,
        "file_content_type": content_type,
        "url": url,
        "probative_attachment": probative,
    }
    return _ok(call, {"attachment": _decorate(attachment, call)})


def url_org(ctx: SandboxContext, org: Organization) -> str:
    """How a download URL names `org`: "" for the default organisation (its URLs are unchanged)."""
    return "" if org is ctx.orgs.default else org.name


def _default_organization(ctx: SandboxContext, org: Organization) -> dict[str, Any]:
    snapshot = org.dataset.current()
    org_id = snapshot.default_organization_id()
    slug = org.credentials.api_login
    return {
        "organization": {
            "id": org_id,
            "name": "Well Demo" if org is ctx.orgs.default else f"Well Demo {org.name}",
            "slug": slug,
            "legal_name": "WELL DEMO SAS",
            "locale": "fr",
            "legal_share_capital": 10000.0,
            "legal_country": "FR",
            "legal_registration_date": "2020-01-15",
            "legal_form": "SAS",
            "legal_address": "1 rue de la Paix, 75002 Paris, France",
            "legal_sector": "6201Z",
            "contract_signed_at": "2020-01-20T10:00:00.000Z",
            "legal_number": "123456789",
            "bank_accounts": [
                {
                    "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"bank-account:{org_id}")),
                    "slug": f"{slug}-bank-account-1",
                    "iban": "FR7630006000011234567890189",
                    "bic": "QNTOFRP1XXX",
                    "currency": "EUR",
                    "balance": 125000.5,
                    "balance_cents": 12500050,
                    "authorized_balance": 125000.5,
                    "authorized_balance_cents": 12500050,
                    "name": "Main account",
                    "updated_at": "2026-01-02T08:00:00.000Z",
                    "status": "active",
                    "main": True,
                    "is_external_account": False,
                    "account_number": "12345678901",
                }
            ],
        }
    }


def _organization_payload(ctx: SandboxContext, org: Organization) -> dict[str, Any]:
    organization = org.dataset.current().organization
    return organization if organization is not None else _default_organization(ctx, org)


def get_organization(ctx: SandboxContext, call: Call, principal: Principal) -> Response:
    """GET /v2/organization: the caller's organization.json, or one generated for its records' org id."""
    require_any_scope(principal, ["organization.read"])
    payload = _organization_payload(ctx, principal.org)
    return _ok(call, {"organization": _decorate(payload["organization"], call)})


def _simple_page(call: Call, items: list[Any]) -> tuple[list[Any], dict[str, Any]]:
    _, page = parse_list_query([(k, v) for k, v in call.request.query if k in ("page", "per_page")])
    total = len(items)
    total_pages = max(1, -(-total // page.per_page))
    if page.page > total_pages:
        raise unprocessable("out_of_range", f"page {page.page} is past the last page ({total_pages})", "page")
    start = (page.page - 1) * page.per_page
    return items[start : start + page.per_page], {
        "current_page": page.page,
        "next_page": page.page + 1 if page.page < total_pages else None,
        "prev_page": page.page - 1 if page.page > 1 else None,
        "total_pages": total_pages,
        "total_count": total,
        "per_page": page.per_page,
    }


def list_bank_accounts(ctx: SandboxContext, call: Call, principal: Principal) -> Response:
    """GET /v2/bank_accounts: the organisation's accounts, paginated."""
    require_any_scope(principal, ["organization.read"])
    organization = _organization_payload(ctx, principal.org)["organization"]
    accounts = [
        {**account, "organization_id": organization.get("id")}
        for account in organization.get("bank_accounts") or []
        if isinstance(account, dict)
    ]
    page_items, meta = _simple_page(call, accounts)
    return _ok(call, {"bank_accounts": page_items, "meta": meta})


def list_transactions(ctx: SandboxContext, call: Call, principal: Principal) -> Response:
    """GET /v2/transactions: requires bank_account_id or iban; the sandbox dataset has no transactions."""
    require_any_scope(principal, ["organization.read"])
    params = dict(call.request.query)
    if not params.get("bank_account_id") and not params.get("iban"):
        raise unprocessable("blank", "bank_account_id or iban is required", "bank_account_id")
    page_items, meta = _simple_page(call, [])
    return _ok(call, {"transactions": page_items, "meta": meta})


def revoke_consent(ctx: SandboxContext, call: Call, principal: Principal) -> Response:
    """DELETE /v2/oauth2/consents: revoke the caller's consent (all its tokens) -> 204; other organisations'
    consents are untouched."""
    grant_id = require_bearer(principal)
    principal.org.oauth.revoke_consent(grant_id)
    return Response.empty(204, [(TRACE_HEADER, call.trace_id)])
