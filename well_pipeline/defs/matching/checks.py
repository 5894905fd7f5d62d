"""Checks on `scored_matches`: one row per invoice, scores in range, no auto-link against a hard rule.

Evaluated by the pipeline step right after scoring (defs/pipeline/stages.py); all three are blocking: a failure
stops delivery in that step.
"""

import dagster as dg

from well_pipeline.adapters.storage import Storage
from well_pipeline.defs.pipeline.step_check import StepCheck, step_check
from well_pipeline.defs.workspace.names import SCORED


@step_check(SCORED, blocking=True, description="Exactly one scored row per stored invoice in every scored day.")
def one_row_per_invoice(store: Storage) -> dg.AssetCheckResult:
    coverage = store.matches.row_coverage()
    missing, orphans = coverage.invoices_without_row, coverage.rows_without_invoice
    return dg.AssetCheckResult(passed=missing == 0 and orphans == 0,
                               metadata={"invoices_without_row": missing, "rows_without_invoice": orphans})


@step_check(SCORED, blocking=True, description="Every score and part lies in [0, 1].")
def scores_in_range(store: Storage) -> dg.AssetCheckResult:
    bad = store.matches.scores_out_of_range()
    return dg.AssetCheckResult(passed=bad == 0, metadata={"rows_out_of_range": bad})


@step_check(SCORED, blocking=True,
            description="No auto_link breaks a hard safety rule (bank-detail change, ambiguity, duplicates...).")
def no_auto_link_breaks_a_hard_rule(store: Storage) -> dg.AssetCheckResult:
    rows = store.matches.auto_links_with_hard_rules()
    return dg.AssetCheckResult(
        passed=not rows,
        metadata={"violations": len(rows), "examples": ", ".join(f"{q} {list(h)}" for q, h in rows[:5]) or "none"},
    )


MATCHING_CHECKS: tuple[StepCheck, ...] = (one_row_per_invoice, scores_in_range, no_auto_link_breaks_a_hard_rule)
