"""Counterparty strength: how surely the invoice's supplier is a given Melio vendor.

Each piece of evidence adds or removes weight in log-odds (the Fellegi–Sunter idea behind Splink): an exact
IBAN or VAT match is near-proof, a name alone is decent evidence, a weak name counts against. The sum, through
a logistic curve, is the candidate's probability. Candidates are compared on that log-odds scale, not on the
probabilities: a vendor confirmed by IBAN and VAT (weight ~17, p≈1.0) and a name-only twin (weight 2, p≈0.88)
look close as probabilities but are 15 log-odds (millions of times) apart.

Weights were set by reasoning about real error modes, then checked on generated ground truth (see the scoring
benchmark); they are constants here so that a change is reviewed like code.
"""

from __future__ import annotations

import math
from typing import NamedTuple

from well_pipeline.core.matching.normalize import (
    NameKey,
    email_domain,
    iban_is_valid,
    normalize_iban,
    normalize_vat,
)
from well_pipeline.core.matching.vendor_index import IndexedVendor, VendorIndex, count_other
from well_pipeline.core.scoring.model import Candidate, InvoiceFacts
from well_pipeline.core.scoring.reasons import Code

PRIOR = -3.0
W_IBAN_MATCH = 8.0
W_IBAN_CONFLICT = -4.0
W_VAT_MATCH = 7.0
W_VAT_CONFLICT = -6.0
W_DOMAIN_MATCH = 3.0
W_KNOWN_NAME = 6.0
W_KNOWN_IBAN = 8.0
W_KNOWN_SUPPLIER_ID = 8.0
W_LEGAL_FORM_SAME = 0.5
W_LEGAL_FORM_DIFFERS = -3.0
# A trade name contained in the vendor's legal name: at its start ("Orange" in "Orange Business Services") or
# elsewhere ("Dupont" in "Transports Dupont").
W_NAME_CONTAINED_PREFIX = 1.5
W_NAME_CONTAINED = 0.5
W_NAME_FAR = -4.0
# A runner-up within this many log-odds of the leader (a likelihood ratio under e^2.5 ≈ 12), and itself more
# likely than not, makes the choice ambiguous.
AMBIGUITY_LOG_ODDS = 2.5
# The leader's strength is reduced while the runner-up is within this many log-odds of it.
MARGIN_LOG_ODDS = 4.0

# Evidence that ties the invoice to the vendor by an identifier, not by its name.
HARD_IDENTIFIERS = frozenset({Code.IBAN_MATCH, Code.KNOWN_IBAN, Code.VAT_MATCH, Code.EMAIL_DOMAIN_MATCH,
                              Code.KNOWN_SUPPLIER_ID})
# Corroboration a name needs before a record may auto-link: an identifier, or this supplier name confirmed for
# the vendor on other records (approved, pinned or delivered).
CORROBORATION = HARD_IDENTIFIERS | {Code.KNOWN_NAME}


def sigmoid(x: float) -> float:
    if x < -700:
        return 0.0
    return 1.0 / (1.0 + math.exp(-x))


def name_weight(similarity: float) -> float:
    # Similarity 100 → 5, ≥95 → 4, ≥90 → 3, ≥85 → 1.5, ≥75 → 0, ≥60 → -2, below → W_NAME_FAR; written as
    # branches, not a table lookup, because this runs for every (supplier, candidate) pair.
    if similarity >= 95.0:
        return 5.0 if similarity >= 100.0 else 4.0
    if similarity >= 85.0:
        return 3.0 if similarity >= 90.0 else 1.5
    if similarity >= 75.0:
        return 0.0
    return -2.0 if similarity >= 60.0 else W_NAME_FAR


class SupplierSignals(NamedTuple):
    """Normalised identifiers of one invoice, computed once."""

    name: NameKey
    iban: str | None
    iban_valid: bool
    vat: str | None
    domain: str | None
    supplier_id: str | None = None

    @classmethod
    def of(cls, invoice: InvoiceFacts, name: NameKey) -> SupplierSignals:
        iban = normalize_iban(invoice.iban)
        return cls(name, iban, iban_is_valid(iban), normalize_vat(invoice.vat_number),
                   email_domain(invoice.supplier_email), (invoice.supplier_id or "").strip() or None)


class Evaluated(NamedTuple):
    candidate: Candidate
    weight: float           # log-odds that this vendor is the supplier
    iban_conflict: bool     # the invoice IBAN differs from an IBAN verified for this vendor
    vat_conflict: bool
    contained: bool         # the invoice's name is a trade name inside this vendor's longer name


def evaluate(vendor: IndexedVendor, signals: SupplierSignals, similarity: float, index: VendorIndex,
             exclude: str | None = None, contained: bool | None = None) -> Evaluated:
    """Weigh every piece of evidence linking the invoice to `vendor`.

    `exclude` is the record under scoring: facts learned from it alone are no evidence for it. `contained` is
    None when the name does not sit inside the vendor's name, else whether it sits at the start.
    """
    weight = PRIOR
    evidence: list[str] = []
    iban_conflict = vat_conflict = False
    position = vendor.position
    if signals.iban and signals.iban_valid:
        if vendor.iban == signals.iban:
            weight += W_IBAN_MATCH
            evidence.append(Code.IBAN_MATCH)
        elif count_other(index.learned_ibans.get(signals.iban, {}).get(position), exclude):
            weight += W_KNOWN_IBAN
            evidence.append(Code.KNOWN_IBAN)
        elif vendor.iban is not None or index.has_verified_iban(position, exclude):
            weight += W_IBAN_CONFLICT
            iban_conflict = True
    if signals.vat and vendor.vat:
        if signals.vat == vendor.vat:
            weight += W_VAT_MATCH
            evidence.append(Code.VAT_MATCH)
        else:
            weight += W_VAT_CONFLICT
            vat_conflict = True
            evidence.append(Code.VAT_MISMATCH)
    if signals.domain and vendor.domain == signals.domain:
        weight += W_DOMAIN_MATCH
        evidence.append(Code.EMAIL_DOMAIN_MATCH)
    if signals.supplier_id and count_other(index.learned_supplier_ids.get(signals.supplier_id, {}).get(position),
                                           exclude):
        weight += W_KNOWN_SUPPLIER_ID
        evidence.append(Code.KNOWN_SUPPLIER_ID)
    if signals.name.key:
        if count_other(index.learned_names.get(signals.name.key, {}).get(position), exclude):
            weight += W_KNOWN_NAME
            evidence.append(Code.KNOWN_NAME)
        elif contained is not None and similarity < 95.0:
            weight += W_NAME_CONTAINED_PREFIX if contained else W_NAME_CONTAINED
            evidence.append(Code.NAME_CONTAINED)
        else:
            weight += name_weight(similarity)
            if similarity >= 100.0:
                evidence.append(Code.NAME_EXACT)
            elif similarity >= 85.0:
                evidence.append(Code.NAME_SIMILAR)
            else:
                evidence.append(Code.NAME_WEAK)
        ours, theirs = signals.name.legal_form, vendor.name.legal_form
        if ours and theirs and similarity >= 85.0:
            if ours == theirs:
                weight += W_LEGAL_FORM_SAME
            else:
                # "Dupont SAS" and "Dupont SARL" are two companies more often than one misread.
                weight += W_LEGAL_FORM_DIFFERS
                evidence.append(Code.LEGAL_FORM_DIFFERS)
    candidate = Candidate(vendor.profile.vendor_id, vendor.profile.company_name, sigmoid(weight), similarity,
                          tuple(evidence), weight)
    return Evaluated(candidate, weight, iban_conflict, vat_conflict, contained is not None)


def margin_factor(top: float, runner_up: float | None) -> float:
    """1.0 when the leader is clear on the log-odds scale; down to 0.7 when the runner-up is level with it."""
    if runner_up is None:
        return 1.0
    gap = top - runner_up
    if gap >= MARGIN_LOG_ODDS:
        return 1.0
    return 0.7 + 0.3 * max(gap, 0.0) / MARGIN_LOG_ODDS


def is_ambiguous(top: float, runner_up: float | None) -> bool:
    """The runner-up is itself more likely than not and within AMBIGUITY_LOG_ODDS of the leader (log-odds)."""
    return runner_up is not None and runner_up >= 0.0 and top - runner_up < AMBIGUITY_LOG_ODDS
