"""Score a batch of invoices against the vendor directory and decide auto-link, review or refused.

score = counterparty strength × field completeness × policy fit, each in [0, 1] and kept with its reasons.
Hard safety rules then cap the score: *hold* rules (a bank-detail change, an IBAN nobody verified, a match on
the name alone, an ambiguous vendor, an invoice Qonto already paid, a possible duplicate, ...) keep it below the
auto-link threshold, *refuse* rules (no sendable document, a credit note, a rejected status, ...) below the
review threshold. A hard rule wins over the numbers even when a threshold is set to 0, so no setting can turn
a bank-detail change into an automatic send; and a possible bank-detail change always lands in review.

Work is shared between invoices from the same supplier: resolution runs once per distinct set of supplier
signals (normalised name, IBAN, VAT, e-mail domain, Qonto supplier id), so cost grows with suppliers, not
invoices. What Well learned from confirmed records is evidence only for *other* records.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import NamedTuple

from well_pipeline.core.matching.fuzzy_names import name_similarity, top_name_matches
from well_pipeline.core.matching.ledger_index import LedgerIndex
from well_pipeline.core.matching.normalize import NameKey, normalize_name
from well_pipeline.core.matching.trade_names import Container, vendors_containing
from well_pipeline.core.matching.vendor_index import VendorIndex, count_other
from well_pipeline.core.scoring.model import Candidate, Decision, InvoiceFacts, ReviewOverride, ScoredMatch
from well_pipeline.core.scoring.parts import field_completeness, policy_fit
from well_pipeline.core.scoring.policy import ScoringPolicy
from well_pipeline.core.scoring.reasons import Code, Part, Reason
from well_pipeline.core.scoring.strength import (
    CORROBORATION,
    HARD_IDENTIFIERS,
    Evaluated,
    SupplierSignals,
    evaluate,
    is_ambiguous,
    margin_factor,
)

TOP_CANDIDATES = 5
# Hard rules listed first wherever a record's rules are shown: a possible payment fraud above everything.
SEVERITY_FIRST = (Code.BANK_DETAILS_CHANGED,)
_IBAN_EVIDENCE = frozenset({Code.IBAN_MATCH, Code.KNOWN_IBAN})
_LEARNED_CODES = frozenset({Code.KNOWN_NAME, Code.KNOWN_IBAN, Code.KNOWN_SUPPLIER_ID})
_CLAIM_EVIDENCE = frozenset({Code.KNOWN_NAME, Code.VAT_MATCH, Code.EMAIL_DOMAIN_MATCH, Code.KNOWN_SUPPLIER_ID})


class Resolution(NamedTuple):
    candidates: tuple[Candidate, ...]
    strength: float
    reasons: tuple[Reason, ...]
    hold: tuple[str, ...]
    refuse: tuple[str, ...]


class _Context(NamedTuple):
    """Per-record facts the resolution depends on beyond the supplier signals (part of the cache key)."""

    exclude: str | None       # the record under scoring, when some learned fact came from it
    self_observed: bool       # its own IBAN is among the vendor's observed IBANs (leave it out)


_PLAIN = _Context(None, False)


def resolve(signals: SupplierSignals, fuzzy: list[tuple[int, float]], index: VendorIndex,
            containers: Sequence[Container] = (), context: _Context = _PLAIN) -> Resolution:
    """Rank the candidate vendors for one set of supplier signals and measure how sure the leader is."""
    similarity = dict(fuzzy)
    positions = set(similarity)
    contained = {c.position: c.prefix for c in containers}
    positions.update(contained)
    for source, key in ((index.by_iban, signals.iban), (index.by_vat, signals.vat),
                        (index.by_domain, signals.domain), (index.by_name, signals.name.key),
                        (index.by_name, signals.name.sorted_key)):
        if key and key in source:
            positions.update(source[key])
    for learned, key in ((index.learned_names, signals.name.key), (index.learned_ibans, signals.iban),
                         (index.learned_supplier_ids, signals.supplier_id)):
        if key and key in learned:
            positions.update(p for p, sources in learned[key].items() if count_other(sources, context.exclude))
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
        evaluated.append(evaluate(vendor, signals, sim, index, context.exclude, contained.get(position)))
    evaluated.sort(key=lambda e: (-e.weight, -e.candidate.name_similarity, e.candidate.vendor_id))
    top = evaluated[0]
    runner = evaluated[1] if len(evaluated) > 1 else None
    strength = top.candidate.probability * margin_factor(top.weight, runner.weight if runner else None)
    reasons: list[Reason] = [Reason(code, Part.STRENGTH, _evidence_text(code, top, signals, index, context))
                             for code in top.candidate.evidence]
    hold: list[str] = []
    reasons.extend(name_reasons)
    twin = _unresolved_twin(evaluated)
    ambiguous = twin is not None or (runner is not None and is_ambiguous(top.weight, runner.weight))
    _bank_details(signals, evaluated, index, context, reasons, hold, ambiguous)
    if top.vat_conflict:
        hold.append(Code.VAT_MISMATCH)
    if CORROBORATION.isdisjoint(top.candidate.evidence):
        reasons.append(Reason(Code.NAME_ONLY_MATCH, Part.HARD_RULE,
                              f"only the name links this invoice to {top.candidate.company_name}: no IBAN, VAT "
                              "number, e-mail domain, Qonto supplier id or confirmed history corroborates it"))
        hold.append(Code.NAME_ONLY_MATCH)
    if ambiguous:
        second = twin or runner
        assert second is not None
        if second.contained or top.contained:
            text = (f"the trade name \"{signals.name.key}\" fits several legal entities ({top.candidate.company_name}"
                    f", {second.candidate.company_name}) and no identifier tells them apart")
        elif twin is not None:
            text = (f"{second.candidate.company_name} has the same name and no identifier tells the two apart")
        else:
            text = (f"{second.candidate.company_name} fits almost as well ({second.candidate.probability:.0%} vs "
                    f"{top.candidate.probability:.0%}; {top.weight - second.weight:.1f} log-odds apart)")
        reasons.append(Reason(Code.AMBIGUOUS_VENDOR, Part.HARD_RULE, text))
        hold.append(Code.AMBIGUOUS_VENDOR)
    elif runner is not None and margin_factor(top.weight, runner.weight) < 1.0:
        reasons.append(Reason(Code.RUNNER_UP_CLOSE, Part.STRENGTH,
                              f"runner-up {runner.candidate.company_name} at {runner.candidate.probability:.0%} "
                              f"({top.weight - runner.weight:.1f} log-odds behind)"))
    candidates = tuple(e.candidate for e in evaluated[:TOP_CANDIDATES])
    return Resolution(candidates, strength, tuple(reasons), tuple(hold), ())


def _claims(evaluated: Evaluated, name_at_least: float = 95.0) -> bool:
    """The invoice presents itself as this vendor: its name, or an identifier other than the IBAN, and nothing
    contradicts it (another legal form, another VAT number)."""
    candidate = evaluated.candidate
    if evaluated.vat_conflict or Code.LEGAL_FORM_DIFFERS in candidate.evidence:
        return False
    if not _CLAIM_EVIDENCE.isdisjoint(candidate.evidence):
        return True
    # A trade name inside the vendor's legal name ("Amazon" in "Amazon EU SARL") is no claim to be that entity.
    return not evaluated.contained and candidate.name_similarity >= name_at_least


def _bank_details(signals: SupplierSignals, evaluated: Sequence[Evaluated], index: VendorIndex, context: _Context,
                  reasons: list[Reason], hold: list[str], ambiguous: bool) -> None:
    """Money goes only to bank details somebody verified: Melio's own, or ones confirmed on other records.

    An invoice that presents itself as a vendor (`_claims`) but carries another IBAN is a possible payment fraud.
    Its IBAN is checked against the leader and against any other candidate whose name it carries as well as the
    leader's: a fraudulent "new bank details" invoice loses weight on its IBAN conflict and may not lead at all.
    """
    top = evaluated[0]
    name = top.candidate.company_name
    position = index.by_id[top.candidate.vendor_id]
    if signals.iban and not signals.iban_valid:
        reasons.append(Reason(Code.IBAN_INVALID, Part.STRENGTH,
                              f"invoice IBAN {signals.iban} fails the checksum (an OCR misread?)"))
        hold.append(Code.IBAN_INVALID)
        return
    if signals.iban:
        if not _IBAN_EVIDENCE.isdisjoint(top.candidate.evidence):
            return
        fraud = None
        # The leader may carry an OCR-garbled version of the name ("similar", 85 %+): still a claim to be it.
        if top.iban_conflict and _claims(top, 85.0):
            fraud = f"differs from every IBAN verified for {name}"
        elif HARD_IDENTIFIERS.isdisjoint(top.candidate.evidence):
            # A vendor whose name fits the invoice as well as the leader's or better, behind only because of its
            # IBAN conflict. Between twins ("Lefèvre SARL" with an IBAN on file, "Lefèvre EURL" without), a
            # legitimate invoice of the second and a fraud against the first look the same: flag it.
            namesake = next((e for e in evaluated[1:] if e.iban_conflict and _claims(e, 85.0) and (
                Code.KNOWN_NAME in e.candidate.evidence
                or e.candidate.name_similarity >= top.candidate.name_similarity)), None)
            if namesake is not None:
                fraud = (f"differs from every IBAN verified for {namesake.candidate.company_name}, whose name the "
                         "invoice carries")
        # The leader's other records say which IBAN it uses only when the leader is not in doubt.
        if fraud is None and not ambiguous and not top.iban_conflict and _claims(top):
            seen = index.observed_ibans.get(position, {})
            own = seen.get(signals.iban, 0) - (1 if context.self_observed else 0)
            others = sum(seen.values()) - (1 if context.self_observed else 0)
            if others > 0 and own <= 0:
                fraud = f"differs from the IBAN on {others} other invoice(s) of {name} (none verified yet)"
        if fraud is not None:
            reasons.append(Reason(Code.BANK_DETAILS_CHANGED, Part.HARD_RULE,
                                  f"invoice IBAN {signals.iban} {fraud}: possible payment fraud, a person must check"))
            hold.append(Code.BANK_DETAILS_CHANGED)
        else:
            reasons.append(Reason(Code.IBAN_NOT_ON_FILE, Part.HARD_RULE,
                                  f"nobody has verified invoice IBAN {signals.iban} for {name} (not in Melio, not "
                                  "on an approved, pinned or delivered invoice): a person confirms it once"))
            hold.append(Code.IBAN_NOT_ON_FILE)
    elif index.has_verified_iban(position, context.exclude) or index.observed_ibans.get(position):
        reasons.append(Reason(Code.IBAN_NOT_VERIFIED, Part.HARD_RULE,
                              f"no IBAN read on the invoice while one is known for {name}: "
                              "a changed bank account could not be ruled out"))
        hold.append(Code.IBAN_NOT_VERIFIED)


def _unresolved_twin(evaluated: list[Evaluated]) -> Evaluated | None:
    """Another directory vendor the name fits as well, when no identifier tells the two apart.

    Two vendors named alike ("Jackson Catering Ltd" / "Jackson Catering Limited"), or several legal entities
    behind one trade name ("Orange" → "Orange SA", "Orange Business Services SAS"), can only be separated by an
    IBAN, VAT number, e-mail domain or Qonto supplier id that matches one of them; the absence of a conflict, or
    a supplier name confirmed before, does not count.
    """
    top = evaluated[0]
    if not HARD_IDENTIFIERS.isdisjoint(top.candidate.evidence):
        return None
    if top.candidate.name_similarity < 95.0 and not top.contained and Code.KNOWN_NAME not in top.candidate.evidence:
        return None
    for other in evaluated[1:]:
        candidate = other.candidate
        if Code.LEGAL_FORM_DIFFERS in candidate.evidence:
            continue
        if other.contained or candidate.name_similarity >= max(95.0, top.candidate.name_similarity - 1.0):
            return other
    return None


_EVIDENCE_TEXT = {
    Code.IBAN_MATCH: "invoice IBAN is the IBAN Melio holds for {name}",
    Code.VAT_MATCH: "VAT number matches {name}'s",
    Code.VAT_MISMATCH: "VAT number differs from {name}'s",
    Code.EMAIL_DOMAIN_MATCH: "e-mail domain matches {name}'s",
    Code.NAME_EXACT: "name matches {name} after normalisation",
    Code.NAME_SIMILAR: "name is {similarity:.0f}% similar to {name}",
    Code.NAME_WEAK: "name only {similarity:.0f}% similar to {name}",
    Code.NAME_CONTAINED: "name is a trade name contained in {name}",
    Code.LEGAL_FORM_DIFFERS: "legal form differs from {name}'s",
}


def _evidence_text(code: str, top: Evaluated, signals: SupplierSignals, index: VendorIndex,
                   context: _Context) -> str:
    """The reason text for one piece of evidence; learned evidence says how many *other* records taught it."""
    candidate = top.candidate
    if code in _LEARNED_CODES:
        position = index.by_id[candidate.vendor_id]
        facts, key, what = {
            Code.KNOWN_NAME: (index.learned_names, signals.name.key, "this supplier name"),
            Code.KNOWN_IBAN: (index.learned_ibans, signals.iban, f"IBAN {signals.iban}"),
            Code.KNOWN_SUPPLIER_ID: (index.learned_supplier_ids, signals.supplier_id,
                                     f"Qonto supplier id {signals.supplier_id}")}[code]
        sources = facts.get(key or "", {}).get(position)
        n = count_other(sources, context.exclude)
        return (f"{what} was linked to {candidate.company_name} on {n} other approved, pinned or delivered "
                f"invoice(s)" if sources and "" not in sources else
                f"{what} was linked to {candidate.company_name} by a person before")
    template = _EVIDENCE_TEXT.get(code, code)
    return template.format(name=candidate.company_name, similarity=candidate.name_similarity)


def _scoring_name(invoice: InvoiceFacts) -> NameKey:
    """The supplier name Qonto's OCR read; the e-invoice issuer's name when OCR found none."""
    return normalize_name(invoice.supplier_name if (invoice.supplier_name or "").strip() else invoice.issuer_name)


@contextmanager
def _cyclic_gc_paused() -> Iterator[None]:
    """Scoring allocates millions of small tuples and creates no reference cycles, while CPython's cyclic collector
    rescans the whole heap (every invoice, every match so far) each time enough objects were allocated: about 40 %
    of a 100,000-invoice run. Reference counting still frees everything; the collector resumes afterwards."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def score_invoices(
    invoices: Sequence[InvoiceFacts],
    index: VendorIndex,
    policy: ScoringPolicy,
    *,
    ledger: LedgerIndex | None = None,
    overrides: Mapping[str, ReviewOverride] | None = None,
    workers: int = -1,
) -> list[ScoredMatch]:
    """Decide every invoice of the batch (resolution once per distinct set of supplier signals)."""
    with _cyclic_gc_paused():
        return _score_invoices(invoices, index, policy, ledger, overrides or {}, workers)


def _score_invoices(invoices: Sequence[InvoiceFacts], index: VendorIndex, policy: ScoringPolicy,
                    ledger: LedgerIndex | None, overrides: Mapping[str, ReviewOverride],
                    workers: int) -> list[ScoredMatch]:
    names = [_scoring_name(i) for i in invoices]
    fuzzy = top_name_matches(index, names, workers=workers)
    # Keyed with the legal form too: "Terraica GmbH" is no trade name of "Terraica Imprimerie EURL", "Terraica" is.
    containers: dict[tuple[str, str | None], list[Container]] = {}
    for name in names:
        if name.key and (name.key, name.legal_form) not in containers:
            containers[(name.key, name.legal_form)] = vendors_containing(index, name)
    signal_cache: dict[tuple, SupplierSignals] = {}
    signals = []
    for invoice, name in zip(invoices, names, strict=True):
        # A Qonto supplier id is evidence only once confirmed for a vendor: unknown ones stay out of the signal,
        # so they do not split the work shared by invoices of one supplier.
        supplier_id = invoice.supplier_id if invoice.supplier_id in index.learned_supplier_ids else None
        key = (name, invoice.iban, invoice.vat_number, invoice.supplier_email, supplier_id)
        signal = signal_cache.get(key)
        if signal is None:
            signal = signal_cache[key] = SupplierSignals.of(invoice, name)._replace(supplier_id=supplier_id)
        signals.append(signal)
    excludes = [i.qonto_id if i.qonto_id in index.source_ids else None for i in invoices]

    def run(signal: SupplierSignals, context: _Context) -> Resolution:
        return resolve(signal, fuzzy.get(signal.name.key, []), index,
                       containers.get((signal.name.key, signal.name.legal_form), ()), context)

    first: dict[tuple[SupplierSignals, str | None], Resolution] = {}
    for signal, exclude in zip(signals, excludes, strict=True):
        if (signal, exclude) not in first:
            first[(signal, exclude)] = run(signal, _Context(exclude, False))
    # Second pass: IBANs the batch's confidently resolved invoices carry, for vendors with no verified IBAN, reveal
    # a record whose IBAN differs from its vendor's other records (negative evidence only, never a bonus).
    observed = _observe_batch_ibans(signals, excludes, first, index)
    resolutions = []
    second: dict[tuple[SupplierSignals, _Context], Resolution] = {}
    for signal, exclude in zip(signals, excludes, strict=True):
        resolution = first[(signal, exclude)]
        top = resolution.candidates[0] if resolution.candidates else None
        if top is not None and index.by_id[top.vendor_id] in observed:
            context = _Context(exclude, (signal, exclude) in observed[index.by_id[top.vendor_id]])
            if (signal, context) not in second:
                second[(signal, context)] = run(signal, context)
            resolution = second[(signal, context)]
        resolutions.append(resolution)
    return [_decide(invoice, resolution, policy, ledger, overrides.get(invoice.qonto_id), index)
            for invoice, resolution in zip(invoices, resolutions, strict=True)]


def _observe_batch_ibans(signals: Sequence[SupplierSignals],
                         excludes: Sequence[str | None], first: Mapping[tuple, Resolution],
                         index: VendorIndex) -> dict[int, set[tuple]]:
    """Count the IBANs of confidently resolved invoices of vendors that have no verified IBAN.

    Returns vendor position → the (signal, exclude) keys whose invoices were counted, so each invoice can leave
    its own IBAN out when comparing with its vendor's *other* invoices.
    """
    counted: dict[int, set[tuple]] = {}
    for signal, exclude in zip(signals, excludes, strict=True):
        resolution = first[(signal, exclude)]
        if not (signal.iban and signal.iban_valid and resolution.candidates):
            continue
        if Code.AMBIGUOUS_VENDOR in resolution.hold:
            continue
        top = resolution.candidates[0]
        if Code.LEGAL_FORM_DIFFERS in top.evidence or not (
                top.name_similarity >= 95.0 or not HARD_IDENTIFIERS.isdisjoint(top.evidence)):
            continue
        position = index.by_id[top.vendor_id]
        if index.has_verified_iban(position, exclude):
            continue
        index.observe_iban(position, signal.iban)
        counted.setdefault(position, set()).add((signal, exclude))
    return counted


def _decide(invoice: InvoiceFacts, resolution: Resolution, policy: ScoringPolicy, ledger: LedgerIndex | None,
            override: ReviewOverride | None, index: VendorIndex) -> ScoredMatch:
    top = resolution.candidates[0] if resolution.candidates else None
    completeness = field_completeness(invoice, policy)
    fit = policy_fit(invoice, top.vendor_id if top else None, policy)
    raw = resolution.strength * completeness.value * fit.value
    hold = [*resolution.hold, *completeness.hold, *fit.hold]
    refuse = [*resolution.refuse, *completeness.refuse, *fit.refuse]
    conflict = index.vendors[index.by_id[top.vendor_id]].profile.conflict if top else None
    if conflict:
        hold.append(Code.VENDOR_DIRECTORY_CONFLICT)
    score = raw
    if hold:
        score = min(score, policy.below_auto_link)
    if refuse:
        score = min(score, policy.below_review)
    score = round(score, 6)  # the stored, shown value is the one compared with the thresholds
    reasons = [*resolution.reasons, *completeness.reasons, *fit.reasons]
    if conflict:
        reasons.append(Reason(Code.VENDOR_DIRECTORY_CONFLICT, Part.HARD_RULE,
                              f"{conflict}; until then nobody can tell which bank details Melio holds"))
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
    elif Code.BANK_DETAILS_CHANGED in hold:
        # A possible payment fraud is the one thing a person must see: always the review queue, never "refused".
        decision = Decision.REVIEW
        reasons.append(Reason(Code.REVIEW, Part.DECISION,
                              f"possible payment fraud: reviewed by a person whatever the score ({score:.2%})"))
    elif not refuse and not hold and score >= policy.auto_link_threshold:
        decision = Decision.AUTO_LINK
        reasons.append(Reason(Code.AUTO_LINK, Part.DECISION,
                              f"score {score:.1%} ≥ auto-link threshold {policy.auto_link_threshold:.0%}"))
    elif not refuse and score >= policy.review_threshold:
        decision = Decision.REVIEW
        reasons.append(Reason(Code.REVIEW, Part.DECISION, f"score {score:.2%}: a person decides"))
    else:
        decision = Decision.REFUSED
        if top is None:
            reasons.append(Reason(Code.UNKNOWN_VENDOR, Part.DECISION,
                                  "supplier not in the Melio vendor directory: pin a vendor by hand"))
        reasons.append(Reason(Code.REFUSED, Part.DECISION, f"score {score:.2%}: not sendable as is"))
    if decision is not Decision.IN_MELIO:
        bill_id = None
    return ScoredMatch(
        qonto_id=invoice.qonto_id, decision=decision, score=score, completeness=round(completeness.value, 6),
        strength=round(resolution.strength, 6), policy_fit=round(fit.value, 6), vendor_id=vendor_id,
        vendor_name=vendor_name, reasons=tuple(reasons), candidates=resolution.candidates,
        hard_rules=_ordered_rules(hold, refuse), melio_bill_id=bill_id, raw_score=round(raw, 6),
    )


def _ordered_rules(hold: Sequence[str], refuse: Sequence[str]) -> tuple[str, ...]:
    """Hard rules without repeats, the most severe first (a possible payment fraud above everything)."""
    rules = tuple(dict.fromkeys([*hold, *refuse])) if hold or refuse else ()
    if len(rules) > 1 and Code.BANK_DETAILS_CHANGED in rules[1:]:
        rules = tuple(sorted(rules, key=lambda rule: rule not in SEVERITY_FIRST))
    return rules


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
