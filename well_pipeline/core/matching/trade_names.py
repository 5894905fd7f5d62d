"""Trade names: the short name on an invoice ("Orange", "Google") that several legal entities in the directory
carry inside their own ("Orange SA", "Orange Business Services SAS"; "Google Cloud France SARL").

A fuzzy ratio cannot see these: "google" and "google cloud france" share too few characters to clear any cutoff,
so the right entities never even become candidates and an unrelated name ranks first. A token index finds every
vendor whose normalised name *contains* all the invoice's name tokens; the scorer then weighs them as candidates
and holds the invoice as ambiguous when more than one entity fits and no identifier tells them apart.
"""

from __future__ import annotations

from typing import NamedTuple

from well_pipeline.core.matching.normalize import NameKey
from well_pipeline.core.matching.vendor_index import VendorIndex

# A trade name is short; a longer name contained in another is a different company ("Dupont" vs "Dupont Services").
MAX_TRADE_NAME_TOKENS = 3
# A token held by more vendors than this is a generic word ("services", "france"), not a brand.
MAX_TOKEN_VENDORS = 60
MAX_CONTAINERS = 8


class Container(NamedTuple):
    position: int
    prefix: bool    # the vendor's name starts with the trade name ("Orange Business Services")


def vendors_containing(index: VendorIndex, name: NameKey) -> list[Container]:
    """Directory vendors whose name holds every token of `name` (and more), best first: prefix, then shortest."""
    tokens = tuple(dict.fromkeys(name.tokens))
    if not tokens or len(tokens) > MAX_TRADE_NAME_TOKENS or len(name.key) < 3:
        return []
    postings = []
    for token in tokens:
        positions = index.by_token.get(token)
        if not positions:
            return []
        postings.append(positions)
    postings.sort(key=len)
    if len(postings[0]) > MAX_TOKEN_VENDORS:
        return []
    found = set(postings[0])
    for positions in postings[1:]:
        found.intersection_update(positions)
        if not found:
            return []
    size = len(name.tokens)
    containers = []
    for position in found:
        vendor_name = index.vendors[position].name
        if len(vendor_name.tokens) <= size:
            continue  # the same name (found by the exact and fuzzy passes), not a longer one containing it
        if name.legal_form and vendor_name.legal_form and name.legal_form != vendor_name.legal_form:
            continue  # "Terraica GmbH" names its own entity, not a trade name of "Terraica Imprimerie EURL"
        containers.append(Container(position, vendor_name.tokens[:size] == name.tokens))
    containers.sort(key=lambda c: (not c.prefix, len(index.vendors[c.position].name.key), c.position))
    return containers[:MAX_CONTAINERS]
