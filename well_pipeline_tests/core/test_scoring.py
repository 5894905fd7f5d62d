"""Resolution and scoring edges: every decision explained, hard rules unbeatable, thresholds inclusive."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest

from well_pipeline.core.matching.ledger_index import LedgerIndex
from well_pipeline.core.matching.vendor_index import LearnedLink, VendorIndex, VendorProfile
from well_pipeline.core.scoring.model import Decision, DocumentFacts, InvoiceFacts, LedgerBill, ReviewOverride
from well_pipeline.core.scoring.policy import PolicyError, ScoringPolicy
from well_pipeline.core.scoring.score import score_invoices

PDF = DocumentFacts("application/pdf", 20_000, "invoice.pdf")
DUPONT_IBAN = "FR7630006000011234567890189"
OTHER_IBAN = "DE89370400440532013000"

VENDORS = [
    VendorProfile("V-1", "Papeterie Dupont SARL", DUPONT_IBAN, "FR40303265045", "compta@dupont.fr"),
    VendorProfile("V-2", "Müller & Söhne GmbH", None, "DE123456789"),
    VendorProfile("V-3", "Acme Inc.", None, None, "billing@acme.com"),
    VendorProfile("V-4", "Ромашка", None, None),
]


def invoice(**overrides) -> InvoiceFacts:
    base = InvoiceFacts(
        qonto_id="q-1", supplier_name="Papeterie Dupont", iban=DUPONT_IBAN, vat_number=None,
        invoice_number="F-2026-001", amount=Decimal("120.00"), currency="EUR", due_date=None, status="to_approve",
        document=PDF,
    )
    from datetime import date

    base = replace(base, due_date=date(2026, 12, 31))
    return replace(base, **overrides)


def score_one(facts: InvoiceFacts, vendors=VENDORS, policy: ScoringPolicy | None = None, **kwargs):
    index = VendorIndex.build(vendors, kwargs.pop("learned", ()))
    (match,) = score_invoices([facts], index, policy or ScoringPolicy(), workers=1, **kwargs)
    return match


def test_clean_invoice_auto_links_with_its_reasons() -> None:
    match = score_one(invoice())
    assert match.decision is Decision.AUTO_LINK
    assert match.vendor_id == "V-1"
    assert match.score >= 0.85
    assert {"IBAN_MATCH", "NAME_EXACT", "AUTO_LINK"} <= set(match.reason_codes())
    assert 0 < match.completeness <= 1 and 0 < match.strength <= 1 and 0 < match.policy_fit <= 1


def test_bank_detail_change_never_auto_links_whatever_the_thresholds() -> None:
    lax = ScoringPolicy(auto_link_threshold=0.0, review_threshold=0.0)
    match = score_one(invoice(iban=OTHER_IBAN), policy=lax)
    assert match.decision is not Decision.AUTO_LINK
    assert "BANK_DETAILS_CHANGED" in match.hard_rules
    assert "possible payment fraud" in " ".join(r.text for r in match.reasons)


def test_empty_vendor_directory_refuses_with_reason() -> None:
    match = score_one(invoice(), vendors=[])
    assert match.decision is Decision.REFUSED
    assert match.candidates == ()
    assert {"NO_CANDIDATE", "UNKNOWN_VENDOR"} <= set(match.reason_codes())


def test_duplicate_vendor_names_are_ambiguous() -> None:
    twins = [VendorProfile("V-10", "Lone Star Industries Inc."), VendorProfile("V-11", "Lone Star Industries Corp.")]
    match = score_one(invoice(supplier_name="LONE STAR INDUSTRIES", iban=None), vendors=twins)
    assert match.decision is not Decision.AUTO_LINK
    assert "AMBIGUOUS_VENDOR" in match.hard_rules
    assert {c.vendor_id for c in match.candidates} == {"V-10", "V-11"}


def test_name_that_is_only_a_legal_suffix_gives_no_name_evidence() -> None:
    match = score_one(invoice(supplier_name="S.A.R.L.", iban=None))
    assert "NAME_LEGAL_FORM_ONLY" in match.reason_codes()
    assert match.decision is not Decision.AUTO_LINK


def test_non_latin_script_meets_its_transliteration() -> None:
    vendors = [*VENDORS, VendorProfile("V-5", "Romashka LLC")]
    match = score_one(invoice(supplier_name="ООО Ромашка", iban=None), vendors=vendors[4:])
    assert match.vendor_id == "V-5"
    assert "NAME_EXACT" in match.reason_codes()


def test_every_ocr_field_null_is_kept_and_explained() -> None:
    empty = InvoiceFacts(qonto_id="q-null", supplier_name=None, iban=None, vat_number=None, invoice_number=None,
                         amount=None, currency=None, due_date=None, status=None, document=PDF)
    match = score_one(empty)
    assert match.decision is Decision.REFUSED
    assert {"MISSING_SUPPLIER_NAME", "MISSING_AMOUNT", "MISSING_DUE_DATE", "MISSING_INVOICE_NUMBER"} <= set(
        match.reason_codes())


@pytest.mark.parametrize("attribute", ["auto_link_threshold", "review_threshold"])
def test_thresholds_are_inclusive(attribute: str) -> None:
    # A garbled name corroborated only by the e-mail domain, for a vendor with no known IBAN: a mid score and no
    # hard rule.
    vendors = [VendorProfile("V-20", "Bristol Legal Services Limited", email="accounts@bristol-legal.co.uk")]
    weak = invoice(supplier_name="Bristl Lgl Srvics", iban=None, supplier_email="ap@bristol-legal.co.uk")
    score = score_one(weak, vendors).score
    assert not score_one(weak, vendors).hard_rules
    assert 0 < score < 1
    if attribute == "auto_link_threshold":
        at = score_one(weak, vendors,
                       policy=ScoringPolicy(auto_link_threshold=score, review_threshold=min(score, 0.55)))
        above = score_one(weak, vendors, policy=ScoringPolicy(auto_link_threshold=score + 1e-6,
                                                     review_threshold=min(score, 0.55)))
        assert (at.decision, above.decision) == (Decision.AUTO_LINK, Decision.REVIEW)
    else:
        at = score_one(weak, vendors,
                       policy=ScoringPolicy(review_threshold=score, auto_link_threshold=max(score, 0.99)))
        above = score_one(weak, vendors, policy=ScoringPolicy(review_threshold=score + 1e-6, auto_link_threshold=0.99))
        assert (at.decision, above.decision) == (Decision.REVIEW, Decision.REFUSED)


def test_default_thresholds_are_exactly_055_and_085() -> None:
    policy = ScoringPolicy()
    assert (policy.review_threshold, policy.auto_link_threshold) == (0.55, 0.85)
    with pytest.raises(PolicyError, match="review"):
        ScoringPolicy(review_threshold=0.9, auto_link_threshold=0.85)
    with pytest.raises(PolicyError):
        ScoringPolicy(auto_link_threshold=1.2)


def test_invoice_already_in_melio_ledger_is_linked_not_sent() -> None:
    index = VendorIndex.build(VENDORS)
    ledger = LedgerIndex.build([LedgerBill("MB-7", None, "Papeterie Dupont", "F2026-001")], index)
    (match,) = score_invoices([invoice()], index, ScoringPolicy(), ledger=ledger, workers=1)
    assert match.decision is Decision.IN_MELIO
    assert match.melio_bill_id == "MB-7"


def test_policy_rules_refuse_or_hold() -> None:
    assert score_one(invoice(is_credit_note=True)).decision is Decision.REFUSED
    assert score_one(invoice(status="rejected")).decision is Decision.REFUSED
    assert score_one(invoice(currency="JPY")).decision is Decision.REFUSED
    held = score_one(invoice(amount=Decimal("100000")))
    assert held.decision is Decision.REVIEW and "AMOUNT_OVER_AUTO_LIMIT" in held.hard_rules
    assert score_one(invoice(has_duplicates=True)).decision is Decision.REVIEW
    assert score_one(invoice(duplicate_of="q-0")).decision is Decision.REVIEW
    blocked = score_one(invoice(), policy=ScoringPolicy(blocked_vendor_ids=frozenset({"V-1"})))
    assert blocked.decision is Decision.REFUSED and "BLOCKED_VENDOR" in blocked.hard_rules
    assert score_one(invoice(document=None)).decision is Decision.REFUSED
    tiff = score_one(invoice(document=DocumentFacts("image/tiff", 10, "x.tiff")))
    assert "DOCUMENT_TYPE_NOT_ACCEPTED" in tiff.hard_rules
    big = score_one(invoice(document=DocumentFacts("application/pdf", 11 * 1024 * 1024, "x.pdf")))
    assert "DOCUMENT_TOO_LARGE" in big.hard_rules


def test_missing_iban_cannot_verify_known_bank_details() -> None:
    match = score_one(invoice(iban=None))
    assert match.decision is Decision.REVIEW
    assert "IBAN_NOT_VERIFIED" in match.hard_rules


def test_a_pin_teaches_the_next_scoring() -> None:
    odd_name = invoice(supplier_name="PD Bureau Supplies", iban=None, vat_number="FR40303265045")
    before = score_one(odd_name, vendors=[replace(VENDORS[0], iban=None), *VENDORS[1:]])
    learned = [LearnedLink("V-1", supplier_name="PD Bureau Supplies")]
    after = score_one(odd_name, vendors=[replace(VENDORS[0], iban=None), *VENDORS[1:]], learned=learned)
    assert "KNOWN_NAME" in after.reason_codes() and "KNOWN_NAME" not in before.reason_codes()
    assert after.strength > before.strength
    assert after.vendor_id == "V-1"


def test_review_overrides_win_and_say_who() -> None:
    override = ReviewOverride("q-1", "pin", vendor_id="V-3", author="ana", decided_at="2026-11-25T10:00:00Z")
    match = score_one(invoice(iban=OTHER_IBAN), overrides={"q-1": override})
    assert match.decision is Decision.MANUAL_LINK and match.vendor_id == "V-3"
    assert "ana" in match.reasons[-1].text
    refused = score_one(invoice(), overrides={"q-1": ReviewOverride("q-1", "refuse", reason="not ours")})
    assert refused.decision is Decision.REFUSED and "not ours" in refused.reasons[-1].text


def test_vendors_without_iban_on_file_show_the_odd_iban_out_as_a_bank_detail_change() -> None:
    """No IBAN in Melio: the usual IBAN of the vendor's other invoices is unverified (held, never a bonus), and an
    invoice whose IBAN none of them carries is a possible fraud."""
    from datetime import UTC, datetime

    vendors = [VendorProfile("V-9", "Nordlicht Logistik GmbH", vat_number="DE123456789")]
    usual = [invoice(qonto_id=f"a{n}", supplier_name="Nordlicht Logistik GmbH", iban=DUPONT_IBAN,
                     vat_number="DE123456789", created_at=datetime(2026, 1, 1 + n, tzinfo=UTC)) for n in range(2)]
    changed = invoice(qonto_id="b", supplier_name="Nordlicht Logistik GmbH", iban=OTHER_IBAN,
                      vat_number="DE123456789", created_at=datetime(2026, 2, 1, tzinfo=UTC))
    index = VendorIndex.build(vendors)
    *firsts, b = score_invoices([*usual, changed], index, ScoringPolicy(), workers=1)
    for a in firsts:
        assert a.decision is Decision.REVIEW and a.hard_rules == ("IBAN_NOT_ON_FILE",)
        assert "USUAL_IBAN" not in a.reason_codes()
    assert b.decision is Decision.REVIEW and b.hard_rules[0] == "BANK_DETAILS_CHANGED"
    assert "2 other invoice(s)" in " ".join(r.text for r in b.reasons)


@pytest.mark.parametrize(("strength", "expected"), [
    (0.85, Decision.AUTO_LINK), (0.849999, Decision.REVIEW), (0.55, Decision.REVIEW), (0.549999, Decision.REFUSED),
])
def test_scores_exactly_at_the_default_thresholds(strength: float, expected: Decision) -> None:
    """A complete, eligible invoice scores exactly its counterparty strength: pin it to the boundaries."""
    from well_pipeline.core.scoring.model import Candidate
    from well_pipeline.core.scoring.score import Resolution, _decide

    candidate = Candidate("V-1", "Papeterie Dupont SARL", strength, 100.0, ("NAME_EXACT",))
    resolution = Resolution((candidate,), strength, (), (), ())
    match = _decide(invoice(), resolution, ScoringPolicy(), None, None, VendorIndex.build(VENDORS))
    assert match.score == strength
    assert match.decision is expected


def test_a_blocked_vendor_stays_refused_even_when_a_person_approves() -> None:
    policy = ScoringPolicy(blocked_vendor_ids=frozenset({"V-1"}))
    match = score_one(invoice(), policy=policy, overrides={"q-1": ReviewOverride("q-1", "approve", author="ana")})
    assert match.decision is Decision.REFUSED and "BLOCKED_VENDOR" in match.reason_codes()


def test_vat_with_or_without_its_country_prefix_is_the_same_number() -> None:
    from well_pipeline.core.matching.normalize import normalize_vat

    assert normalize_vat("FR 40 303 265 045") == normalize_vat("40303265045") == normalize_vat("fr40.303.265.045")
    assert normalize_vat("DE123456789") != normalize_vat("DE987654321")
    match = score_one(invoice(vat_number="40303265045"))
    assert "VAT_MATCH" in match.reason_codes() and "VAT_MISMATCH" not in match.hard_rules


def test_email_domains_compare_on_the_registrable_domain() -> None:
    from well_pipeline.core.matching.normalize import email_domain

    assert email_domain("ap@billing.acme.co.uk") == email_domain("x@acme.co.uk") == "acme.co.uk"
    assert email_domain("ap@mail.acme.com") == "acme.com"
    assert email_domain("someone@gmail.com") is None and email_domain("broken@") is None
