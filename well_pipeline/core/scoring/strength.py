"""Counterparty strength: how surely the invoice's supplier is a given Melio vendor.

Each piece of evidence adds or removes weight in log-odds (the Fellegi–Sunter idea behind Splink): an exact
IBAN or VAT match is near-proof, a name alone is decent evidence, a weak name counts against. The sum, through
a logistic curve, is the candidate's probability. Then the margin over the runner-up matters: two vendors that
both fit well make the choice unsafe, whatever the top one's score.

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
from well_pipeline.core.matching.vendor_index import IndexedVendor, VendorIndex
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
W_USUAL_IBAN = 1.5
W_LEGAL_FORM_SAME = 0.5
W_LEGAL_FORM_DIFFERS = -3.0
NAME_WEIGHTS = ((100.0, 5.0), (95.0, 4.0), (90.0, 3.0), (85.0, 1.5), (75.0, 0.0), (60.0, -2.0))
W_NAME_FAR = -4.0
# A runner-up this close (in probability) to the leader makes the choice ambiguous.
AMBIGUITY_GAP = 0.15
AMBIGUITY_FLOOR = 0.5


def sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def name_weight(similarity: float) -> float:
    # Unrolled NAME_WEIGHTS: this runs for every (supplier, candidate) pair.
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

    @classmethod
    def of(cls, invoice: InvoiceFacts, name: NameKey) -> SupplierSignals:
        iban = normalize_iban(invoice.iban)
        return cls(name, iban, iban_is_valid(iban), normalize_vat(invoice.vat_number),
                   email_domain(invoice.supplier_email))


class Evaluated(NamedTuple):
    candidate: Candidate
    iban_conflict: bool
    vat_conflict: bool


def evaluate(vendor: IndexedVendor, signals: SupplierSignals, similarity: float, index: VendorIndex) -> Evaluated:
    """Weigh every piece of evidence linking the invoice to `vendor`."""
    weight = PRIOR
    evidence: list[str] = []
    iban_conflict = vat_conflict = False
    if signals.iban and signals.iban_valid:
        if vendor.iban == signals.iban:
            weight += W_IBAN_MATCH
            evidence.append(Code.IBAN_MATCH)
        elif signals.iban in index.known_ibans.get(vendor.position, ()):
            weight += W_KNOWN_IBAN
            evidence.append(Code.KNOWN_IBAN)
        elif signals.iban in index.observed_ibans.get(vendor.position, ()):
            weight += W_USUAL_IBAN
            evidence.append(Code.USUAL_IBAN)
        elif vendor.iban is not None or index.known_ibans.get(vendor.position) or \
                index.observed_ibans.get(vendor.position):
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
    if signals.name.key:
        if vendor.position in index.learned_names.get(signals.name.key, ()):
            weight += W_KNOWN_NAME
            evidence.append(Code.KNOWN_NAME)
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
                          tuple(evidence))
    return Evaluated(candidate, iban_conflict, vat_conflict)


def margin_factor(top: float, runner_up: float | None) -> float:
    """1.0 when the leader is clear; down to 0.7 when the runner-up is level with it."""
    if runner_up is None:
        return 1.0
    gap = top - runner_up
    return 1.0 if gap >= 0.3 else 0.7 + gap


def is_ambiguous(top: float, runner_up: float | None) -> bool:
    return runner_up is not None and runner_up >= AMBIGUITY_FLOOR and top - runner_up < AMBIGUITY_GAP
