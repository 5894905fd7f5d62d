"""Fuzzy name similarity for many suppliers at once: cost grows with distinct names, not with invoices.

Why this shape: `extractOne(WRatio)` per invoice costs ~8 ms against 10,000 vendors, so 100,000 invoices
would take minutes. Instead every *distinct normalised* supplier name is scored once against every vendor with
`rapidfuzz.process.cdist` and the Indel `ratio` (SIMD, ~17 ns a pair on two cores), in chunks to bound memory;
names still unsure are re-scored on token-sorted keys ("Dupont Papeterie" / "Papeterie Dupont"); the top
candidates are then re-scored exactly in floating point.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from rapidfuzz import fuzz, process

from well_pipeline.core.matching.normalize import NameKey
from well_pipeline.core.matching.vendor_index import VendorIndex

CHUNK = 2048
SAME_WORDS_OTHER_ORDER = 96.0
SORTED_PASS_BELOW = 95


def name_similarity(a: NameKey, b: NameKey) -> float:
    """0–100: the better of the ordered and the token-sorted Indel ratio of two normalised names."""
    if not a.key or not b.key:
        return 0.0
    if a.key == b.key or a.compact == b.compact:
        return 100.0
    if a.sorted_key == b.sorted_key:
        return SAME_WORDS_OTHER_ORDER  # "King & Adams" vs "Adams & King": often two firms
    return max(fuzz.ratio(a.key, b.key), fuzz.ratio(a.sorted_key, b.sorted_key), fuzz.ratio(a.compact, b.compact))


def top_name_matches(
    index: VendorIndex,
    names: Iterable[NameKey],
    *,
    top_k: int = 5,
    cutoff: int = 60,
    workers: int = -1,
) -> dict[str, list[tuple[int, float]]]:
    """For each distinct non-empty name key: up to `top_k` (vendor position, similarity) at or above `cutoff`."""
    distinct: dict[str, NameKey] = {}
    for name in names:
        if name.key and name.key not in distinct:
            distinct[name.key] = name
    result: dict[str, list[tuple[int, float]]] = {}
    if not distinct or not len(index):
        return {key: [] for key in distinct}
    vendor_keys = index.name_keys
    vendor_sorted = index.sorted_name_keys
    keys = list(distinct)
    k = min(top_k, len(vendor_keys))
    for start in range(0, len(keys), CHUNK):
        chunk = keys[start:start + CHUNK]
        scores = process.cdist(chunk, vendor_keys, scorer=fuzz.ratio, dtype=np.uint8, workers=workers,
                               score_cutoff=cutoff)
        unsure = np.flatnonzero(scores.max(axis=1) < SORTED_PASS_BELOW)
        if unsure.size:
            sorted_queries = [distinct[chunk[i]].sorted_key for i in unsure]
            sorted_scores = process.cdist(sorted_queries, vendor_sorted, scorer=fuzz.ratio, dtype=np.uint8,
                                          workers=workers, score_cutoff=cutoff)
            scores[unsure] = np.maximum(scores[unsure], sorted_scores)
        # Scores under the cutoff are 0, so the matrix is sparse: rank only the survivors of each row.
        rows, cols = np.nonzero(scores)
        values = scores[rows, cols]
        order = np.lexsort((cols, -values.astype(np.int16), rows))
        rows, cols = rows[order], cols[order]
        starts = np.searchsorted(rows, np.arange(len(chunk)))
        ends = np.searchsorted(rows, np.arange(len(chunk)), side="right")
        for row, key in enumerate(chunk):
            query = distinct[key]
            matches = [(int(p), name_similarity(query, index.vendors[int(p)].name))
                       for p in cols[starts[row]:min(ends[row], starts[row] + k)]]
            matches.sort(key=lambda m: (-m[1], m[0]))
            result[key] = matches
    return result
