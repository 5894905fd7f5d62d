"""GET /v2/supplier_invoices and /{id}: filters, sort, pagination, exposure window (reference §3, §6, §9)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import httpx
import pytest

from well_pipeline_tests.support.qonto_records import make_invoice, write_dataset
from well_pipeline_tests.support.qonto_sandbox import api_key_headers, running_sandbox

from .conftest import FIXED_NOW
from .test_auth_and_errors import assert_envelope

PARIS_SUMMER = timezone(timedelta(hours=2))


def _list(client: httpx.Client, sb, params=None) -> httpx.Response:
    return client.get(f"{sb.base_url}/v2/supplier_invoices", params=params or {}, headers=api_key_headers(sb))


def _ids(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [record["id"] for record in response.json()["supplier_invoices"]]


def _invoices(count: int, start: datetime = datetime(2026, 1, 1, tzinfo=UTC)) -> list[dict]:
    return [
        make_invoice(created_at=start + timedelta(hours=i), invoice_id=f"inv-{i:04d}") for i in range(count)
    ]


@pytest.mark.parametrize(
    ("count", "page", "expected_meta", "expected_len"),
    [
        (
            0,
            1,
            {"current_page": 1, "next_page": None, "prev_page": None, "total_pages": 1, "total_count": 0},
            0,
        ),
        (
            1,
            1,
            {"current_page": 1, "next_page": None, "prev_page": None, "total_pages": 1, "total_count": 1},
            1,
        ),
        (
            100,
            1,
            {"current_page": 1, "next_page": None, "prev_page": None, "total_pages": 1, "total_count": 100},
            100,
        ),
        (
            101,
            1,
            {"current_page": 1, "next_page": 2, "prev_page": None, "total_pages": 2, "total_count": 101},
            100,
        ),
        (
            101,
            2,
            {"current_page": 2, "next_page": None, "prev_page": 1, "total_pages": 2, "total_count": 101},
            1,
        ),
    ],
)
def test_pagination_meta(tmp_path, client, clock, count, page, expected_meta, expected_len):
    write_dataset(tmp_path, _invoices(count))
    with running_sandbox(tmp_path, clock=clock) as sb:
        response = _list(client, sb, {"page": page})
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/json; charset=utf-8"
        body = response.json()
        assert body["meta"] == {**expected_meta, "per_page": 100}
        assert len(body["supplier_invoices"]) == expected_len


def test_page_past_the_last_and_bad_page_sizes_are_422(tmp_path, client, clock):
    write_dataset(tmp_path, _invoices(101))
    with running_sandbox(tmp_path, clock=clock) as sb:
        assert assert_envelope(_list(client, sb, {"page": 3}), 422)["source"] == {"parameter": "page"}
        assert assert_envelope(_list(client, sb, {"page": 0}), 422)["source"] == {"parameter": "page"}
        assert assert_envelope(_list(client, sb, {"page": "x"}), 422)["source"] == {"parameter": "page"}
        for per_page in ("101", "0", "-1", "ten"):
            assert assert_envelope(_list(client, sb, {"per_page": per_page}), 422)["source"] == {
                "parameter": "per_page"
            }
        assert _list(client, sb, {"per_page": 100}).status_code == 200
        empty = _list(client, sb, {"filter[status]": "paid", "page": 2})
        assert_envelope(empty, 422)


def test_current_page_and_unknown_parameters_are_ignored(tmp_path, client, clock):
    write_dataset(tmp_path, [*_invoices(5), make_invoice(status="paid")])
    with running_sandbox(tmp_path, clock=clock) as sb:
        response = _list(client, sb, {"per_page": 2, "current_page": 3, "status": "paid", "foo": "bar"})
        assert response.json()["meta"]["current_page"] == 1
        assert response.json()["meta"]["total_count"] == 6


def test_paging_walk_is_stable_with_tied_timestamps(tmp_path, client, clock):
    tied = datetime(2026, 2, 1, 8, 0, tzinfo=UTC)
    records = [make_invoice(created_at=tied, invoice_id=f"tie-{i:03d}") for i in range(23)]
    write_dataset(tmp_path, records + _invoices(10))
    with running_sandbox(tmp_path, clock=clock) as sb:
        seen: list[str] = []
        page = 1
        while page is not None:
            body = _list(client, sb, {"per_page": 7, "page": page}).json()
            seen += [r["id"] for r in body["supplier_invoices"]]
            page = body["meta"]["next_page"]
        assert len(seen) == len(set(seen)) == 33
        # Default order is created_at:desc, ties by id in the same direction.
        tie_ids = [i for i in seen if i.startswith("tie-")]
        assert tie_ids == sorted(tie_ids, reverse=True)
        created = [i for i in seen if i.startswith("inv-")]
        assert created == sorted(created, reverse=True)
        assert seen[:23] == tie_ids  # 2026-02-01 is newer than every inv- record, so desc puts ties first


def test_sort_by_fields_and_directions(tmp_path, client, clock):
    records = [
        make_invoice(
            invoice_id="a",
            supplier_name="beta",
            total_amount={"value": "9.50", "currency": "EUR"},
            created_at=datetime(2026, 1, 3, tzinfo=UTC),
            updated_at=datetime(2026, 1, 9, tzinfo=UTC),
        ),
        make_invoice(
            invoice_id="b",
            supplier_name="Alpha",
            total_amount={"value": "10.00", "currency": "EUR"},
            created_at=datetime(2026, 1, 1, tzinfo=UTC),
            updated_at=datetime(2026, 1, 8, tzinfo=UTC),
        ),
        make_invoice(
            invoice_id="c",
            supplier_name=None,
            total_amount=None,
            created_at=datetime(2026, 1, 2, tzinfo=UTC),
            updated_at=datetime(2026, 1, 7, tzinfo=UTC),
        ),
    ]
    write_dataset(tmp_path, records)
    with running_sandbox(tmp_path, clock=clock) as sb:
        assert _ids(_list(client, sb)) == ["a", "c", "b"]
        assert _ids(_list(client, sb, {"sort_by": "created_at:asc"})) == ["b", "c", "a"]
        assert _ids(_list(client, sb, {"sort_by": "supplier_name:asc"})) == ["b", "a", "c"]  # nulls last
        assert _ids(_list(client, sb, {"sort_by": "supplier_name:desc"})) == ["c", "a", "b"]
        assert _ids(_list(client, sb, {"sort_by": "total_amount:desc"})) == ["c", "b", "a"]  # 10.00 > 9.50
        assert _ids(_list(client, sb, {"sort_by": "updated_at:asc"})) == ["c", "b", "a"]
        for bad in ("created_at", "created_at:up", "amount:asc"):
            assert assert_envelope(_list(client, sb, {"sort_by": bad}), 422)["source"] == {
                "parameter": "sort_by"
            }


def test_status_filter_single_repeated_and_invalid(tmp_path, client, clock):
    write_dataset(
        tmp_path,
        [
            make_invoice(invoice_id="r", status="to_review"),
            make_invoice(invoice_id="p", status="paid"),
            make_invoice(invoice_id="a", status="awaiting_payment"),
        ],
    )
    with running_sandbox(tmp_path, clock=clock) as sb:
        assert _ids(_list(client, sb, {"filter[status]": "paid"})) == ["p"]
        assert sorted(
            _ids(_list(client, sb, [("filter[status][]", "paid"), ("filter[status][]", "to_review")]))
        ) == ["p", "r"]
        assert sorted(
            _ids(_list(client, sb, [("filter[status]", "paid"), ("filter[status]", "awaiting_payment")]))
        ) == ["a", "p"]
        error = assert_envelope(_list(client, sb, {"filter[status]": "deleted"}), 422)
        assert error["code"] == "not_in_list"
        assert error["source"] == {"parameter": "filter[status]"}


def test_created_at_range_at_day_and_timezone_boundaries(tmp_path, client, clock):
    records = [
        make_invoice(invoice_id="mar31-2359z", created_at=datetime(2026, 3, 31, 23, 59, 59, tzinfo=UTC)),
        make_invoice(invoice_id="apr01-0000z", created_at=datetime(2026, 4, 1, 0, 0, 0, tzinfo=UTC)),
        # 01:30 in Paris on 1 April is still 31 March in UTC.
        make_invoice(invoice_id="apr01-0130+02", created_at=datetime(2026, 4, 1, 1, 30, tzinfo=PARIS_SUMMER)),
        make_invoice(
            invoice_id="apr30-2359+02", created_at=datetime(2026, 4, 30, 23, 59, 59, tzinfo=PARIS_SUMMER)
        ),
        make_invoice(invoice_id="may01-0000z", created_at=datetime(2026, 5, 1, 0, 0, 0, tzinfo=UTC)),
    ]
    write_dataset(tmp_path, records)
    with running_sandbox(tmp_path, clock=clock) as sb:
        utc_april = _ids(
            _list(
                client,
                sb,
                {
                    "filter[created_at_from]": "2026-04-01T00:00:00Z",
                    "filter[created_at_to]": "2026-05-01T00:00:00Z",
                    "sort_by": "created_at:asc",
                },
            )
        )
        assert utc_april == ["apr01-0000z", "apr30-2359+02"]  # from inclusive, to exclusive
        paris_april = _ids(
            _list(
                client,
                sb,
                {
                    "filter[created_at_from]": "2026-04-01T00:00:00+02:00",
                    "filter[created_at_to]": "2026-05-01T00:00:00+02:00",
                    "sort_by": "created_at:asc",
                },
            )
        )
        assert paris_april == ["apr01-0130+02", "mar31-2359z", "apr01-0000z", "apr30-2359+02"]
        millis = _ids(_list(client, sb, {"filter[created_at_from]": "2026-04-30T21:59:59.000Z"}))
        assert millis == ["may01-0000z", "apr30-2359+02"]
        # An unencoded '+' arrives as a space: refused, as the reference warns (§9.3).
        raw = client.get(
            f"{sb.base_url}/v2/supplier_invoices?filter[created_at_from]=2026-04-01T00:00:00+02:00",
            headers=api_key_headers(sb),
        )
        assert assert_envelope(raw, 422)["source"] == {"parameter": "filter[created_at_from]"}
        for bad in ("2026-04-01", "2026-04-01T00:00:00", "yesterday"):
            assert_envelope(_list(client, sb, {"filter[created_at_to]": bad}), 422)


def test_updated_at_range(tmp_path, client, clock):
    base = datetime(2026, 4, 1, tzinfo=UTC)
    records = [
        make_invoice(invoice_id="old", created_at=base, updated_at=base + timedelta(hours=1)),
        make_invoice(invoice_id="edge", created_at=base, updated_at=base + timedelta(days=1)),
        make_invoice(invoice_id="late", created_at=base, updated_at=base + timedelta(days=2)),
    ]
    write_dataset(tmp_path, records)
    with running_sandbox(tmp_path, clock=clock) as sb:
        ids = _ids(
            _list(
                client,
                sb,
                {
                    "filter[updated_at_from]": "2026-04-02T00:00:00Z",
                    "filter[updated_at_to]": "2026-04-03T00:00:00Z",
                },
            )
        )
        assert ids == ["edge"]
        ids = _ids(
            _list(
                client,
                sb,
                {"filter[updated_at_from]": "2026-04-02T02:00:00+02:00", "sort_by": "updated_at:asc"},
            )
        )
        assert ids == ["edge", "late"]


def test_other_filters(tmp_path, client, clock):
    today = FIXED_NOW.date()  # 2026-06-01, same day in Paris at 14:00
    records = [
        make_invoice(invoice_id="due-today", due_date=today.isoformat()),
        make_invoice(invoice_id="due-past", due_date=(today - timedelta(days=3)).isoformat()),
        make_invoice(invoice_id="due-future", due_date=(today + timedelta(days=1)).isoformat()),
        make_invoice(invoice_id="no-due", due_date=None, is_credit_note=True),
        make_invoice(invoice_id="dup", has_duplicates=True, attachment_id="att-dup"),
        make_invoice(invoice_id="nonfin", is_attachment_non_financial=True),
    ]
    write_dataset(tmp_path, records)
    with running_sandbox(tmp_path, clock=clock) as sb:
        past = set(_ids(_list(client, sb, {"filter[due_date]": "past_and_today"})))
        assert {"due-today", "due-past"} <= past and "due-future" not in past and "no-due" not in past
        assert _ids(_list(client, sb, {"filter[due_date]": "future"})) == ["due-future"]
        both = _ids(
            _list(client, sb, [("filter[due_date][]", "future"), ("filter[due_date][]", "missing_date")])
        )
        assert sorted(both) == ["due-future", "no-due"]
        assert "no-due" not in _ids(_list(client, sb, {"filter[exclude_credit_notes]": "true"}))
        assert "no-due" in _ids(_list(client, sb, {"filter[exclude_credit_notes]": "false"}))
        assert _ids(_list(client, sb, {"filter[document_type]": "duplicates"})) == ["dup"]
        assert _ids(_list(client, sb, {"filter[document_type][]": "non_financial_documents"})) == ["nonfin"]
        assert _ids(_list(client, sb, {"filter[attachment_id]": "att-dup"})) == ["dup"]
        assert_envelope(_list(client, sb, {"filter[due_date]": "tomorrow"}), 422)
        assert_envelope(_list(client, sb, {"filter[exclude_credit_notes]": "maybe"}), 422)


def test_get_one_is_wrapped_and_unknown_is_404(tmp_path, client, clock):
    invoice = make_invoice(
        invoice_id="11111111-2222-3333-4444-555555555555", supplier_name="Électricité Ñandú"
    )
    write_dataset(tmp_path, [invoice])
    with running_sandbox(tmp_path, clock=clock) as sb:
        response = client.get(
            f"{sb.base_url}/v2/supplier_invoices/{invoice['id']}", headers=api_key_headers(sb)
        )
        assert response.status_code == 200
        assert response.json() == {"supplier_invoice": invoice}
        missing = client.get(f"{sb.base_url}/v2/supplier_invoices/nope", headers=api_key_headers(sb))
        assert assert_envelope(missing, 404)["source"] == {"parameter": "id"}


def test_records_older_than_three_years_are_not_exposed(tmp_path, client, clock):
    three_years_ago = FIXED_NOW.replace(year=FIXED_NOW.year - 3)
    old = make_invoice(invoice_id="old", created_at=three_years_ago - timedelta(seconds=1))
    recent = make_invoice(invoice_id="recent", created_at=three_years_ago + timedelta(seconds=1))
    write_dataset(tmp_path, [old, recent])
    with running_sandbox(tmp_path, clock=clock) as sb:
        assert _ids(_list(client, sb)) == ["recent"]
        assert _list(client, sb).json()["meta"]["total_count"] == 1
        headers = api_key_headers(sb)
        assert client.get(f"{sb.base_url}/v2/supplier_invoices/old", headers=headers).status_code == 404
        assert (
            client.get(f"{sb.base_url}/v2/attachments/{old['attachment_id']}", headers=headers).status_code
            == 404
        )
        assert (
            client.get(f"{sb.base_url}/v2/attachments/{recent['attachment_id']}", headers=headers).status_code
            == 200
        )
        clock.advance(2)  # time passes: "recent" slides out of the window too
        assert _ids(_list(client, sb)) == []
    with running_sandbox(tmp_path, clock=clock, exposure_years=0) as sb:
        assert sorted(_ids(_list(client, sb))) == ["old", "recent"]
