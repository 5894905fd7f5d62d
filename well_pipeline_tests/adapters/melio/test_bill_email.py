"""The bill e-mail: one attachment with the original bytes, a readable subject, no header injection, and
bytes that parse back to exactly what was built."""

from __future__ import annotations

import dataclasses
import email
import re
from datetime import UTC, datetime, timedelta, timezone
from email import policy
from email.message import EmailMessage

import pytest

from well_pipeline.adapters.melio import BillEmail, build_bill_email, validate_melio_address
from well_pipeline.adapters.melio.bill_email import (
    MELIO_MAX_ATTACHMENT_BYTES,
    attachment_filename,
    bill_message_id,
    validate_address,
)
from well_pipeline_tests.support.qonto_records import MINIMAL_PDF

QONTO_ID = "0b7c6a1e-5d2f-4f7e-9a51-3c2d1e0f9a10"
TO = "acmecorp_4821@invoicesmelio.com"
FROM = "bills@well.example.com"
NOW = datetime(2026, 3, 14, 9, 26, 53, tzinfo=UTC)
# Every byte value, so a transfer encoding that touched the content would show.
DOCUMENT = MINIMAL_PDF + bytes(range(256)) * 4 + b"\r\n.\r\n..\n\r"


def make_bill(**overrides: object) -> BillEmail:
    values: dict[str, object] = dict(
        qonto_id=QONTO_ID,
        record_version=1,
        to_address=TO,
        from_address=FROM,
        supplier_name="ACME SARL",
        invoice_number="F-2026-0042",
        amount="1234.50",
        currency="EUR",
        document=DOCUMENT,
        document_filename="facture-0042.pdf",
        content_type="application/pdf",
    )
    values.update(overrides)
    return BillEmail(**values)  # type: ignore[arg-type]


def roundtrip(message: EmailMessage) -> tuple[bytes, EmailMessage]:
    raw = message.as_bytes()
    parsed = email.message_from_bytes(raw, policy=policy.default)
    assert isinstance(parsed, EmailMessage)
    return raw, parsed


def header_block(raw: bytes) -> bytes:
    head, sep, _ = raw.partition(b"\r\n\r\n")
    assert sep, "no CRLF CRLF between headers and body"
    return head


def the_attachment(parsed: EmailMessage) -> EmailMessage:
    attachments = list(parsed.iter_attachments())
    assert len(attachments) == 1
    return attachments[0]  # type: ignore[return-value]


def assert_clean_wire_format(raw: bytes) -> None:
    """7-bit, CRLF only (no bare CR or LF anywhere), header lines <= 78 characters, one header per name."""
    assert raw.isascii()
    assert b"\r" not in raw.replace(b"\r\n", b"") and b"\n" not in raw.replace(b"\r\n", b"")
    assert b"\x00" not in raw
    lines = header_block(raw).split(b"\r\n")
    assert all(len(line) <= 78 for line in lines), [line for line in lines if len(line) > 78]
    names = [line.split(b":", 1)[0].lower() for line in lines if line and line[:1] not in b" \t"]
    assert len(names) == len(set(names)), names


# -- the message ---------------------------------------------------------------------------------------


def test_message_has_one_attachment_with_identical_bytes_and_all_headers() -> None:
    raw, parsed = roundtrip(build_bill_email(make_bill(record_version=3), now=NOW))

    assert_clean_wire_format(raw)
    assert parsed["From"] == FROM
    assert parsed["To"] == TO
    assert parsed["Subject"] == f"Invoice F-2026-0042 from ACME SARL [Qonto {QONTO_ID}]"
    assert parsed["X-Well-Qonto-Id"] == QONTO_ID
    assert parsed["X-Well-Record-Version"] == "3"
    assert parsed["Message-ID"] == f"<well.{QONTO_ID}.v3@well.example.com>"
    assert parsed["Date"].datetime == NOW
    for absent in ("Cc", "Bcc", "Reply-To", "Sender"):
        assert parsed[absent] is None

    attachment = the_attachment(parsed)
    assert attachment.get_content_type() == "application/pdf"
    assert attachment["Content-Transfer-Encoding"] == "base64"
    assert attachment.get_content_disposition() == "attachment"
    assert attachment.get_filename() == f"{QONTO_ID}_facture-0042.pdf"
    assert attachment.get_content() == DOCUMENT

    body = parsed.get_body(preferencelist=("plain",))
    assert body is not None
    text = body.get_content()
    assert f"Qonto invoice id: {QONTO_ID}" in text
    assert "Total: 1234.50 EUR" in text


def test_bytes_are_reproducible_and_the_message_id_follows_the_record_version() -> None:
    first = build_bill_email(make_bill(), now=NOW).as_bytes()
    again = build_bill_email(make_bill(), now=NOW).as_bytes()
    assert first == again

    v1 = build_bill_email(make_bill(record_version=1), now=NOW)
    v2 = build_bill_email(make_bill(record_version=2), now=NOW)
    later = build_bill_email(make_bill(record_version=1), now=NOW + timedelta(days=3))
    assert v1["Message-ID"] == later["Message-ID"] == f"<well.{QONTO_ID}.v1@well.example.com>"
    assert v2["Message-ID"] == f"<well.{QONTO_ID}.v2@well.example.com>"
    other = build_bill_email(make_bill(qonto_id="11111111-2222-3333-4444-555555555555"), now=NOW)
    assert other["Message-ID"] != v1["Message-ID"]


def test_message_id_escapes_the_id_to_atext_one_to_one() -> None:
    plain = bill_message_id("inv.1:2", 7, "Bills@Well.Example.COM")
    assert plain == "<well.inv%2E1%3A2.v7@well.example.com>"
    # "inv.1" and "inv%2E1"-style ids cannot collide: '%' is not allowed in a Qonto id at all.
    with pytest.raises(ValueError):
        bill_message_id("inv%2E1", 7, FROM)
    left = plain[1:-1].split("@")[0]
    assert re.fullmatch(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*", left)


@pytest.mark.parametrize(
    ("supplier", "number"),
    [
        ("Société Générale d'Électricité", "FAC-2026/0001"),
        ("Ελληνική Εταιρεία Ηλεκτρισμού Α.Ε.", "ΤΙΜ-77"),
        ("株式会社テスト電機", "請求書-2026-03"),
        ("Café 🎉 Party — Ltd 👨‍👩‍👧", "№ 42 🧾"),
        ("ООО «Ромашка» " * 6, "X" * 50),  # long: folded across several encoded words
    ],
)
def test_unicode_subject_is_rfc2047_encoded_and_parses_back_exactly(supplier: str, number: str) -> None:
    raw, parsed = roundtrip(build_bill_email(make_bill(supplier_name=supplier, invoice_number=number), now=NOW))

    assert_clean_wire_format(raw)
    subject_line = header_block(raw).split(b"\r\nSubject: ", 1)[1]
    assert subject_line.startswith(b"=?utf-8?")
    expected_supplier = " ".join(supplier.split())
    if len(expected_supplier) > 120:
        expected_supplier = expected_supplier[:119].rstrip() + "…"
    assert parsed["Subject"] == f"Invoice {number} from {expected_supplier} [Qonto {QONTO_ID}]"
    assert the_attachment(parsed).get_content() == DOCUMENT


@pytest.mark.parametrize(
    ("amount", "currency", "shown"),
    [
        ("22.800000000", "EUR", "22.80 EUR"),  # DuckDB's DECIMAL(38, 9) as text
        ("22.8", "eur", "22.80 EUR"),
        ("1234.5", "EUR", "1234.50 EUR"),
        ("1500.000000000", "JPY", "1500 JPY"),
        ("22.8", None, "22.80"),
        (None, "EUR", "unknown"),
        ("", "EUR", "unknown"),
        ("nan", "EUR", "unknown"),
        ("NaN", None, "unknown"),
        ("12,50", "EUR", "unknown"),
        ("1e40", "EUR", f"{10**40} EUR"),  # beyond Decimal's rounding precision: shown exactly, never dropped
    ],
)
def test_body_total_is_formatted_money(amount: str | None, currency: str | None, shown: str) -> None:
    _, parsed = roundtrip(build_bill_email(make_bill(amount=amount, currency=currency), now=NOW))
    body = parsed.get_body(preferencelist=("plain",))
    assert body is not None
    (total,) = [line for line in body.get_content().splitlines() if line.startswith("Total:")]
    assert total == f"Total: {shown}"


def test_missing_fields_become_unknown_placeholders() -> None:
    _, parsed = roundtrip(
        build_bill_email(make_bill(supplier_name=None, invoice_number="  \t ", amount=None, currency=None), now=NOW)
    )
    assert parsed["Subject"] == f"Invoice unknown from unknown [Qonto {QONTO_ID}]"
    body = parsed.get_body(preferencelist=("plain",))
    assert body is not None and "Total: unknown" in body.get_content()


@pytest.mark.parametrize(
    ("original", "content_type", "expected"),
    [
        ("facture-0042.pdf", "application/pdf", "facture-0042.pdf"),
        ("Facture n°17 Société Générale d'Électricité.pdf", "application/pdf",
         "Facture n°17 Société Générale d'Électricité.pdf"),
        ("Τιμολόγιο 2026.PDF", "application/pdf", "Τιμολόγιο 2026.PDF"),
        ("請求書_2026年3月.pdf", "application/pdf", "請求書_2026年3月.pdf"),
        ("reçu 🧾 final.jpeg", "image/jpeg", "reçu 🧾 final.jpeg"),
        ('quote " and ; semicolon = equals.png', "image/png", 'quote " and ; semicolon = equals.png'),
        ("../../etc/passwd", "application/pdf", "passwd.pdf"),
        ("C:\\fakepath\\scan.gif", "image/gif", "scan.gif"),
        ("scan", "image/jpeg", "scan.jpg"),
        ("photo.heic", "image/jpeg", "photo.heic.jpg"),
        (None, "application/pdf", "invoice.pdf"),
        ("...", "application/pdf", "invoice.pdf"),
        (".hidden.pdf", "application/pdf", "hidden.pdf"),
        ("invoice\u202efdp.exe", "application/pdf", "invoice fdp.exe.pdf"),  # bidi override spoofing
        ("a\x00b\r\nContent-Type: text-html\tc.pdf", "application/pdf", "a b Content-Type: text-html c.pdf"),
        ("x" * 300 + ".pdf", "application/pdf", "x" * 120 + ".pdf"),
    ],
)
def test_attachment_filename_is_sanitised_prefixed_and_rfc2231_encoded(
    original: str | None, content_type: str, expected: str
) -> None:
    assert attachment_filename(QONTO_ID, original, content_type) == f"{QONTO_ID}_{expected}"
    raw, parsed = roundtrip(
        build_bill_email(make_bill(document_filename=original, content_type=content_type), now=NOW)
    )
    assert_clean_wire_format(raw)
    attachment = the_attachment(parsed)
    assert attachment.get_filename() == f"{QONTO_ID}_{expected}"
    assert attachment.get_content_type() == content_type
    assert attachment.get_content() == DOCUMENT
    if not expected.isascii():
        assert b"filename*" in raw and b"utf-8''" in raw  # RFC 2231, not a raw 8-bit or RFC 2047 name


INJECTIONS = [
    "ACME\r\nBcc: evil@x.com",
    "ACME\nBcc: evil@x.com",
    "ACME\rBcc: evil@x.com",
    "ACME\r\n\r\nBcc: evil@x.com",
    "ACME\x00\r\nBcc: evil@x.com",
    "ACME\u2028Bcc: evil@x.com\u2029To: evil@x.com",
    "ACME\x85Bcc: evil@x.com",
    "Société\r\nBcc: evil@x.com\r\nX-Well-Qonto-Id: forged",
]


@pytest.mark.parametrize("payload", INJECTIONS)
@pytest.mark.parametrize("field", ["supplier_name", "invoice_number", "document_filename"])
def test_header_injection_in_any_field_adds_no_header_and_no_recipient(field: str, payload: str) -> None:
    raw, parsed = roundtrip(build_bill_email(make_bill(**{field: payload}), now=NOW))

    assert_clean_wire_format(raw)
    assert parsed["Bcc"] is None and parsed["Cc"] is None
    assert parsed.get_all("To") == [TO]
    assert parsed.get_all("X-Well-Qonto-Id") == [QONTO_ID]
    recipients = email.utils.getaddresses(parsed.get_all("To", []) + parsed.get_all("Cc", [])
                                          + parsed.get_all("Bcc", []))
    assert [address for _, address in recipients] == [TO]
    head = header_block(raw)
    assert not re.search(rb"(^|\r\n)(Bcc|Cc|To: evil)", head, re.I)
    assert not re.search(rb"(^|\r\n)X-Well-Qonto-Id: forged", head)
    # The text survives, on one line, wherever the field goes.
    value = parsed["Subject"] if field != "document_filename" else the_attachment(parsed).get_filename()
    assert "\r" not in value and "\n" not in value and "\x00" not in value
    assert "Bcc: evil@x.com" in value
    # The attachment is still exactly one and unchanged.
    assert the_attachment(parsed).get_content() == DOCUMENT


def test_message_is_a_bill_email_in_every_parser_view() -> None:
    raw, parsed = roundtrip(build_bill_email(make_bill(), now=NOW))
    assert parsed.get_content_type() == "multipart/mixed"
    parts = list(parsed.iter_parts())
    assert [p.get_content_type() for p in parts] == ["text/plain", "application/pdf"]
    assert parts[0]["MIME-Version"] is None  # only the top level carries it
    assert raw.count(b"MIME-Version") == 1
    # The same message re-parsed with the legacy compat32 parser agrees on the attachment.
    legacy = email.message_from_bytes(raw)
    payloads = [p for p in legacy.walk() if p.get_filename()]
    assert len(payloads) == 1 and payloads[0].get_payload(decode=True) == DOCUMENT


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (dict(document=b""), "empty"),
        (dict(document=b"x" * (MELIO_MAX_ATTACHMENT_BYTES + 1)), "at most"),
        (dict(content_type="image/heic"), "not one Melio"),
        (dict(content_type="text/html\r\nBcc: evil@x.com"), "not a MIME type"),
        (dict(qonto_id="id\r\nBcc: evil@x.com"), "qonto_id"),
        (dict(qonto_id=""), "qonto_id"),
        (dict(qonto_id="x" * 61), "qonto_id"),
        (dict(record_version=-1), "record_version"),
        (dict(record_version=True), "record_version"),
        (dict(to_address="Melio <acme_1234@invoicesmelio.com>"), "e-mail address"),
        (dict(to_address="acme_1234@invoicesmelio.com\r\nBcc: evil@x.com"), "e-mail address"),
        (dict(from_address="bills@well.example.com, evil@x.com"), "e-mail address"),
    ],
)
def test_unusable_input_is_refused(overrides: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build_bill_email(make_bill(**overrides), now=NOW)


def test_exactly_10_mb_is_accepted_and_naive_now_is_refused() -> None:
    big = build_bill_email(make_bill(document=b"%PDF" + b"\0" * (MELIO_MAX_ATTACHMENT_BYTES - 4)), now=NOW)
    assert len(the_attachment(big).get_content()) == MELIO_MAX_ATTACHMENT_BYTES
    with pytest.raises(ValueError, match="timezone"):
        build_bill_email(make_bill(), now=datetime(2026, 1, 1))
    local = build_bill_email(make_bill(), now=NOW.astimezone(timezone(timedelta(hours=2))))
    assert local["Date"].datetime == NOW


def test_repr_hides_the_document() -> None:
    bill = make_bill(document=b"%PDF-SECRET-CONTENT")
    assert "SECRET" not in repr(bill)
    assert "document=" not in repr(bill)
    with pytest.raises(dataclasses.FrozenInstanceError):
        bill.qonto_id = "other"  # type: ignore[misc]


# -- address validation -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "address",
    ["acmecorp_4821@invoicesmelio.com", "searetreatpa_7498@invoicesmelio.com", "replenishmd_527@InvoicesMelio.COM"],
)
def test_melio_addresses_pass_without_warnings(address: str) -> None:
    assert validate_melio_address(address) == []


@pytest.mark.parametrize(
    "domain",
    [
        "invoicemelio.com",  # the issue-7 typo: one letter missing
        "invoicesmelio.co",
        "invoices-melio.com",
        "invoicesmeilo.com",  # swapped letters
        "InvoiceMelio.COM",
        "melio.com",
        "mail.invoicesmelio.com",  # a subdomain is not Melio's inbox
        "invoicesmelio.com.example.net",  # look-alike prefix
        "invoicesmelio.fr",
    ],
)
def test_a_typo_of_the_melio_domain_is_refused_with_did_you_mean(domain: str) -> None:
    with pytest.raises(ValueError) as caught:
        validate_melio_address(f"bills_1234@{domain}")
    message = str(caught.value)
    assert f"domain {domain!r} found, 'invoicesmelio.com' expected" in message
    assert "did you mean invoicesmelio.com? (bills_1234@invoicesmelio.com)" in message


@pytest.mark.parametrize("address", ["ap@acme.example.com", "ap@gmail.com", "bills_1234@invoicesinbox.com"])
def test_an_unrelated_domain_is_refused_without_a_guess(address: str) -> None:
    with pytest.raises(ValueError, match=r"not a Melio inbox address: domain '[^']+' found") as caught:
        validate_melio_address(address)
    assert "did you mean" not in str(caught.value)


def test_a_malformed_melio_like_address_gets_the_hint_but_never_echoes_the_raw_text() -> None:
    with pytest.raises(ValueError, match=r"invalid domain; did you mean invoicesmelio\.com\?$"):
        validate_melio_address("bills_1234@invoicesmelio")
    with pytest.raises(ValueError) as caught:
        validate_melio_address("evil\r\nBcc: x@invoicemelio.com")
    assert "\r" not in str(caught.value) and "\n" not in str(caught.value)


def test_allowing_any_domain_turns_the_refusal_into_a_warning() -> None:
    (warning,) = validate_melio_address("ap@acme.example.com", allow_any_domain=True)
    assert "domain 'acme.example.com' found" in warning and "tests and sandboxes only" in warning
    assert validate_melio_address("acmecorp_4821@invoicesmelio.com", allow_any_domain=True) == []
    with pytest.raises(ValueError):  # the override is about the domain, never about a malformed address
        validate_melio_address("Acme <ap@acme.example.com>", allow_any_domain=True)


def test_an_odd_local_part_only_warns() -> None:
    (warning,) = validate_melio_address("acmecorp@invoicesmelio.com")
    assert "businessname_1234" in warning


@pytest.mark.parametrize(
    "address",
    [
        "",
        "acme",
        "@invoicesmelio.com",
        "acme_1234@",
        "acme_1234@@invoicesmelio.com",
        "Acme <acme_1234@invoicesmelio.com>",
        "<acme_1234@invoicesmelio.com>",
        "acme_1234@invoicesmelio.com (comment)",
        "acme_1234@invoicesmelio.com, evil@x.com",
        "acme_1234@invoicesmelio.com evil@x.com",
        '"evil@x.com"@invoicesmelio.com',
        "evil@x.com@invoicesmelio.com",
        "acme_1234@invoicesmelio.com\r\nBcc: evil@x.com",
        " acme_1234@invoicesmelio.com",
        "acme_1234@invoicesmelio.com\x00",
        "acme..1234@invoicesmelio.com",
        ".acme@invoicesmelio.com",
        "acme@[127.0.0.1]",
        "acme@localhost",
        "acme@-invoicesmelio.com",
        "acmé_1234@invoicesmelio.com",
        "acme_1234@invoicesmélio.com",
        "a" * 65 + "@invoicesmelio.com",
    ],
)
def test_anything_but_one_plain_addr_spec_is_refused(address: str) -> None:
    with pytest.raises(ValueError):
        validate_melio_address(address)
    with pytest.raises(ValueError):
        validate_address(address)


def test_non_str_address_is_refused() -> None:
    with pytest.raises(ValueError):
        validate_melio_address(None)  # type: ignore[arg-type]
