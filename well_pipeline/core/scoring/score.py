"""Score a batch of invoices against the vendor directory and decide auto-link, review or refused.

score = counterparty strength × field completeness × policy fit, each in [0, 1] and kept with its reasons.
Hard safety rules then cap the score: *hold* rules (a bank-detail change, an ambiguous vendor, a possible
duplicate, ...) keep it below the auto-link threshold, *refuse* rules (no sendable document, a credit note, a
paid invoice, ...) below the review threshold. A hard rule wins over the numbers even when a threshold is
set to 0, so no setting can turn a bank-detail change into an automatic send.

Work is shared between invoices from the same supplier: resolution runs once per distinct set of supplier
signals (normalised name, IBAN, VAT, e-mail domain), so cost grows with suppliers, not invoices.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import NamedTuple

from well_pipeline.core.matching.fuzzy_names import name_similarity, top_name_matches
from well_pipeline.core.matching.ledger_index import LedgerIndex
from well_pipeline.core.matching.normalize import normalize_name
from well_pipeline.core.matching.vendor_index import VendorIndex
from well_pipeline.core.scoring.model import Candidate, Decision, InvoiceFacts, ReviewOverride, ScoredMatch
from well_pipeline.core.scoring.parts import field_completeness, policy_fit
from well_pipeline.core.scoring.policy import ScoringPolicy
from well_pipeline.core.scoring.reasons import Code, Part, Reason
from well_pipeline.core.scoring.strength import SupplierSignals, evaluate, is_ambiguous, margin_factor

TOP_CANDIDATES = 5
CONFIDENT = 0.85


class Resolution(NamedTuple):
    candidates: tuple[Candidate, ...]
    strength: float
    reasons: tuple[Reason, ...]
    hold: tuple[str, ...]
    refuse: tuple[str, ...]


def resolve(signals: SupplierSignals, fuzzy: list[tuple[int, float]], index: VendorIndex) -> Resolution:
    """Rank the candidate vendors for one set of supplier signals and measure how sure the leader is."""
    similarity = dict(fuzzy)
    positions = set(similarity)
    for source, key in ((index.by_iban, signals.iban), (index.by_vat, signals.vat),
                        (index.by_domain, signals.domain), (index.by_name, signals.name.key),
                        (index.by_name, signals.name.sorted_key), (index.learned_names, signals.name.key),
                        (index.learned_ibans, signals.iban)):
        if key and key in source:
            positions.update(source[key])
    name_reasons = []
    if not signals.name.key:
        name_reasons.append(Reason(Code.NAME_LEGAL_FORM_ONLY if signals.name.legal_only else Code.NAME_MISSING,
                                   Part.STRENGTH, "the supplier name is only a legal form and carries no identity"
                                   if signals.name.legal_only else "no supplier name to compare"))
    if not positions:
        reason = Reason(Code.NO_CANDIDATE, Part.STRENGTH, "no Melio vendor resembles this supplier")
        return Resolution((), 0.0, (*name_reasons, reason), (), (Code.NO_CANDIDATE,))
    evaluated = []
    for position in positions:
        vendor = index.vendors[position]
        sim = similarity.get(position)
        if sim is None:
            sim = name_similarity(signals.name, vendor.name)
        evaluated.append(evaluate(vendor, signals, sim, index))
    evaluated.sort(key=lambda e: (-e.candidate.probability, -e.candidate.name_similarity, e.candidate.vendor_id))
    top = evaluated[0]
    runner_up = evaluated[1].candidate.probability if len(evaluated) > 1 else None
    strength = top.candidate.probability * margin_factor(top.candidate.probability, runner_up)
    reasons: list[Reason] = [Reason(code, Part.STRENGTH, _evidence_text(code, top.candidate))
                             for code in top.candidate.evidence]
    hold: list[str] = []
    reasons.extend(name_reasons)
    if signals.iban and not signals.iban_valid:
        reasons.append(Reason(Code.IBAN_INVALID, Part.STRENGTH,
                              f"invoice IBAN {signals.iban} fails the checksum (an OCR misread?)"))
        hold.append(Code.IBAN_INVALID)
    if top.iban_conflict:
        reasons.append(Reason(Code.BANK_DETAILS_CHANGED, Part.HARD_RULE,
                              f"invoice IBAN {signals.iban} differs from every IBAN known for "
                              f"{top.candidate.company_name}: possible payment fraud, a person must check"))
        hold.append(Code.BANK_DETAILS_CHANGED)
    elif signals.iban is None and index.has_any_iban(index.by_id[top.candidate.vendor_id]):
        reasons.append(Reason(Code.IBAN_NOT_VERIFIED, Part.HARD_RULE,
                              f"no IBAN read on the invoice while one is known for {top.candidate.company_name}: "
                              "a changed bank account could not be ruled out"))
        hold.append(Code.IBAN_NOT_VERIFIED)
    if top.vat_conflict:
        hold.append(Code.VAT_MISMATCH)
    twin = _unresolved_twin(evaluated)
    if is_ambiguous(top.candidate.probability, runner_up) or twin is not None:
        second = twin or evaluated[1].candidate
        reasons.append(Reason(Code.AMBIGUOUS_VENDOR, Part.HARD_RULE,
                              f"{second.company_name} fits almost as well ({second.probability:.0%} vs "
                              f"{top.candidate.probability:.0%})"))
        hold.append(Code.AMBIGUOUS_VENDOR)
    elif runner_up is not None and runner_up >= 0.2 and top.candidate.probability - runner_up < 0.3:
        reasons.append(Reason(Code.RUNNER_UP_CLOSE, Part.STRENGTH,
                              f"runner-up {evaluated[1].candidate.company_name} at {runner_up:.0%}"))
    candidates = tuple(e.candidate for e in evaluated[:TOP_CANDIDATES])
    return Resolution(candidates, strength, tuple(reasons), tuple(hold), ())


POSITIVE_IDENTIFIERS = frozenset({Code.IBAN_MATCH, Code.VAT_MATCH, Code.KNOWN_IBAN, Code.KNOWN_NAME,
                                  Code.EMAIL_DOMAIN_MATCH})


def _unresolved_twin(evaluated: list) -> Candidate | None:
    """Another directory vendor with the leader's name, when no identifier tells the two apart.

    Two vendors named alike ("Jackson Catering Ltd" / "Jackson Catering Limited") can only be separated by an
    IBAN, VAT number or e-mail domain that matches one of them; the mere absence of a conflict does not count.
    """
    top = evaluated[0].candidate
    if top.name_similarity < 95.0 or POSITIVE_IDENTIFIERS.intersection(top.evidence):
        return None
    for other in evaluated[1:]:
        candidate = other.candidate
        if candidate.name_similarity >= top.name_similarity - 1.0 and "LEGAL_FORM_DIFFERS" not in candidate.evidence:
            return candidate
    return None


_EVIDENCE_TEXT = {
    Code.IBAN_MATCH: "invoice IBAN is the vendor's IBAN",
    Code.KNOWN_IBAN: "a person confirmed this IBAN for the vendor before",
    Code.USUAL_IBAN: "the IBAN this vendor's other invoices carry",
    Code.VAT_MATCH: "VAT number matches",
    Code.VAT_MISMATCH: "VAT number differs from the vendor's",
    Code.EMAIL_DOMAIN_MATCH: "e-mail domain matches",
    Code.KNOWN_NAME: "a person confirmed this supplier name for the vendor before",
    Code.NAME_EXACT: "name matches {name} after normalisation",
    Code.NAME_SIMILAR: "name is {similarity:.0f}% similar to {name}",
    Code.NAME_WEAK: "name only {similarity:.0f}% similar to {name}",
    Code.LEGAL_FORM_DIFFERS: "legal form differs from {name}'s",
}


def _evidence_text(code: str, candidate: Candidate) -> str:
    template = _EVIDENCE_TEXT.get(code, code)
    if "{" not in template:
        return template
    return template.format(name=candidate.company_name, similarity=candidate.name_similarity)


def score_invoices(
    invoices: Sequence[InvoiceFacts],
    index: VendorIndex,
    policy: ScoringPolicy,
    *,
    ledger: LedgerIndex | None = None,
    overrides: Mapping[str, ReviewOverride] | None = None,
    workers: int = -1,
) -> list[ScoredMatch]:
    overrides = overrides or {}
    names = [normalize_name(i.supplier_name) for i in invoices]
    fuzzy = top_name_matches(index, names, workers=workers)
    signal_cache: dict[tuple, SupplierSignals] = {}
    signals = []
    for invoice, name in zip(invoices, names, strict=True):
        key = (name, invoice.iban, invoice.vat_number, invoice.supplier_email)
        signal = signal_cache.get(key)
        if signal is None:
            signal = signal_cache[key] = SupplierSignals.of(invoice, name)
        signals.append(signal)

    cache: dict[SupplierSignals, Resolution] = {}
    for signal in signals:
        if signal not in cache:
            cache[signal] = resolve(signal, fuzzy.get(signal.name.key, []), index)
    resolutions = [cache[signal] for signal in signals]
    learned = _learn_observed_ibans(invoices, signals, resolutions, index)
    if learned:
        # Only suppliers whose candidates include a vendor that just learned an IBAN can change.
        learned_ids = {index.vendors[p].profile.vendor_id for p in learned}
        for signal, resolution in cache.items():
            if any(c.vendor_id in learned_ids for c in resolution.candidates):
                cache[signal] = resolve(signal, fuzzy.get(signal.name.key, []), index)
        resolutions = [cache[signal] for signal in signals]
    return [_decide(invoice, resolution, policy, ledger, overrides.get(invoice.qonto_id), index)
            for invoice, resolution in zip(invoices, resolutions, strict=True)]


def _learn_observed_ibans(invoices: Sequence[InvoiceFacts], signals: Sequence[SupplierSignals],
                          resolutions: Sequence[Resolution], index: VendorIndex) -> set[int]:
    """Vendors without an IBAN on file learn the usual one from their confidently resolved invoices.

    The usual IBAN is the most frequent among them (earliest first on a tie). Then an invoice of that vendor
    with another IBAN is a bank-detail change, and one without an IBAN cannot be verified, exactly as for
    vendors whose IBAN Melio holds. Returns the positions of vendors that learned something.
    """
    seen: dict[int, dict[str, list]] = {}
    for invoice, signal, resolution in zip(invoices, signals, resolutions, strict=True):
        if not (signal.iban and signal.iban_valid and resolution.candidates) or resolution.hold:
            continue
        top = resolution.candidates[0]
        if top.probability < CONFIDENT or top.name_similarity < 95.0 or "LEGAL_FORM_DIFFERS" in top.evidence:
            continue
        position = index.by_id[top.vendor_id]
        if index.has_any_iban(position):
            continue
        moment = invoice.created_at or datetime.max.replace(tzinfo=UTC)
        entry = seen.setdefault(position, {}).setdefault(signal.iban, [0, moment])
        entry[0] += 1
        entry[1] = min(entry[1], moment)
    learned = set()
    for position, ibans in seen.items():
        usual = min(ibans.items(), key=lambda item: (-item[1][0], item[1][1], item[0]))[0]
        if index.observe_iban(position, usual):
            learned.add(position)
    return learned


def _decide(invoice: InvoiceFacts, resolution: Resolution, policy: ScoringPolicy, ledger: LedgerIndex | None,
            override: ReviewOverride | None, index: VendorIndex) -> ScoredMatch:
    top = resolution.candidates[0] if resolution.candidates else None
    completeness = field_completeness(invoice, policy)
    fit = policy_fit(invoice, top.vendor_id if top else None, policy)
    raw = resolution.strength * completeness.value * fit.value
    hold = [*resolution.hold, *completeness.hold, *fit.hold]
    refuse = [*resolution.refuse, *completeness.refuse, *fit.refuse]
    score = raw
    if hold:
        score = min(score, policy.below_auto_link)
    if refuse:
        score = min(score, policy.below_review)
    score = round(score, 6)  # the stored, shown value is the one compared with the thresholds
    reasons = [*resolution.reasons, *completeness.reasons, *fit.reasons]
    vendor_id = top.vendor_id if top else None
    vendor_name = top.company_name if top else None

    bill_id = ledger.find(vendor_id, vendor_name, invoice.supplier_name, invoice.invoice_number) if ledger else None
    if override is not None:
        decision, vendor_id, vendor_name, extra = _apply_override(override, top, index)
        reasons.append(extra)
        if decision is Decision.MANUAL_LINK and vendor_id in policy.blocked_vendor_ids:
            decision = Decision.REFUSED  # "never sent" holds even against an approval or a pin
            reasons.append(Reason(Code.BLOCKED_VENDOR, Part.POLICY, f"vendor {vendor_id} is blocked by policy"))
    elif bill_id is not None and top is not None and top.probability >= 0.5:
        decision = Decision.IN_MELIO
        reasons.append(Reason(Code.IN_MELIO_LEDGER, Part.DECISION,
                              f"already in the Melio ledger as bill {bill_id}: linked to it, never sent again"))
    elif not refuse and not hold and score >= policy.auto_link_threshold:
        decision = Decision.AUTO_LINK
        reasons.append(Reason(Code.AUTO_LINK, Part.DECISION,
                              f"score {score:.1%} ≥ auto-link threshold {policy.auto_link_threshold:.0%}"))
    elif not refuse and score >= policy.review_threshold:
        decision = Decision.REVIEW
        reasons.append(Reason(Code.REVIEW, Part.DECISION, f"score {score:.1%}: a person decides"))
    else:
        decision = Decision.REFUSED
        if top is None:
            reasons.append(Reason(Code.UNKNOWN_VENDOR, Part.DECISION,
                                  "supplier not in the Melio vendor directory: pin a vendor by hand"))
        reasons.append(Reason(Code.REFUSED, Part.DECISION, f"score {score:.1%}: not sendable as is"))
    if decision is not Decision.IN_MELIO:
        bill_id = None
    return ScoredMatch(
        qonto_id=invoice.qonto_id, decision=decision, score=score, completeness=round(completeness.value, 6),
        strength=round(resolution.strength, 6), policy_fit=round(fit.value, 6), vendor_id=vendor_id,
        vendor_name=vendor_name, reasons=tuple(reasons), candidates=resolution.candidates,
        hard_rules=tuple(dict.fromkeys([*hold, *refuse])), melio_bill_id=bill_id, raw_score=round(raw, 6),
    )


def _apply_override(override: ReviewOverride, top: Candidate | None,
                    index: VendorIndex) -> tuple[Decision, str | None, str | None, Reason]:
    who = f"{override.author or 'someone'} on {override.decided_at or 'an earlier date'}"
    if override.action == "refuse":
        return (Decision.REFUSED, top.vendor_id if top else None, top.company_name if top else None,
                Reason(Code.MANUAL_REFUSED, Part.DECISION, f"refused by {who}: {override.reason or 'no reason'}"))
    vendor_id = override.vendor_id or (top.vendor_id if top else None)
    position = index.by_id.get(vendor_id) if vendor_id else None
    name = index.vendors[position].profile.company_name if position is not None else (top.company_name if top else None)
    code = Code.MANUAL_PINNED if override.action == "pin" else Code.MANUAL_APPROVED
    verb = "pinned to" if override.action == "pin" else "approved for"
    return Decision.MANUAL_LINK, vendor_id, name, Reason(code, Part.DECISION, f"{verb} {name} by {who}")
