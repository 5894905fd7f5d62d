"""Asset checks on `scored_matches`: one row per invoice, scores in range, no auto-link against a hard rule."""

import dagster as dg

from well_pipeline.defs.matching.assets import scored_matches
from well_pipeline.defs.resources import WellStorageResource


@dg.asset_check(asset=scored_matches, pool="duckdb", blocking=True,
                description="Exactly one scored row per stored invoice in every scored day.")
def one_row_per_invoice(storage: WellStorageResource) -> dg.AssetCheckResult:
    coverage = storage.storage().matches.row_coverage()
    missing, orphans = coverage.invoices_without_row, coverage.rows_without_invoice
    return dg.AssetCheckResult(passed=missing == 0 and orphans == 0,
                               metadata={"invoices_without_row": missing, "rows_without_invoice": orphans})


@dg.asset_check(asset=scored_matches, pool="duckdb", blocking=True,
                description="Every score and part lies in [0, 1].")
def scores_in_range(storage: WellStorageResource) -> dg.AssetCheckResult:
    bad = storage.storage().matches.scores_out_of_range()
    return dg.AssetCheckResult(passed=bad == 0, metadata={"rows_out_of_range": bad})


@dg.asset_check(asset=scored_matches, pool="duckdb", blocking=True,
                description="No auto_link breaks a hard safety rule (bank-detail change, ambiguity, duplicates...).")
def no_auto_link_breaks_a_hard_rule(storage: WellStorageResource) -> dg.AssetCheckResult:
    rows = storage.storage().matches.auto_links_with_hard_rules()
    return dg.AssetCheckResult(
        passed=not rows,
        metadata={"violations": len(rows), "examples": ", ".join(f"{q} {list(h)}" for q, h in rows[:5]) or "none"},
    )


matching_checks = [one_row_per_invoice, scores_in_range, no_auto_link_breaks_a_hard_rule]
