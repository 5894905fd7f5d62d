"""Asset checks on `scored_matches`: one row per invoice, scores in range, no auto-link against a hard rule."""

import dagster as dg

from well_pipeline.defs.matching.assets import scored_matches
from well_pipeline.defs.resources import WellStorageResource


@dg.asset_check(asset=scored_matches, pool="duckdb", blocking=True,
                description="Exactly one scored row per stored invoice in every scored day.")
def one_row_per_invoice(storage: WellStorageResource) -> dg.AssetCheckResult:
    with storage.database().connect() as con:
        missing, orphans = con.execute(
            """
            WITH scored_days AS (SELECT DISTINCT created_date FROM scored_matches)
            SELECT
              (SELECT count(*) FROM qonto_supplier_invoices i JOIN scored_days d USING (created_date)
               WHERE i.id NOT IN (SELECT qonto_id FROM scored_matches)),
              (SELECT count(*) FROM scored_matches WHERE qonto_id NOT IN (SELECT id FROM qonto_supplier_invoices))
            """
        ).fetchone()
    return dg.AssetCheckResult(passed=missing == 0 and orphans == 0,
                               metadata={"invoices_without_row": missing, "rows_without_invoice": orphans})


@dg.asset_check(asset=scored_matches, pool="duckdb", blocking=True,
                description="Every score and part lies in [0, 1].")
def scores_in_range(storage: WellStorageResource) -> dg.AssetCheckResult:
    with storage.database().connect() as con:
        bad = con.execute(
            "SELECT count(*) FROM scored_matches WHERE NOT (score BETWEEN 0 AND 1 AND completeness BETWEEN 0 AND 1 "
            "AND strength BETWEEN 0 AND 1 AND policy_fit BETWEEN 0 AND 1)"
        ).fetchone()[0]
    return dg.AssetCheckResult(passed=bad == 0, metadata={"rows_out_of_range": bad})


@dg.asset_check(asset=scored_matches, pool="duckdb", blocking=True,
                description="No auto_link breaks a hard safety rule (bank-detail change, ambiguity, duplicates...).")
def no_auto_link_breaks_a_hard_rule(storage: WellStorageResource) -> dg.AssetCheckResult:
    with storage.database().connect() as con:
        rows = con.execute(
            "SELECT qonto_id, hard_rules FROM scored_matches WHERE decision = 'auto_link' AND len(hard_rules) > 0"
        ).fetchall()
    return dg.AssetCheckResult(
        passed=not rows,
        metadata={"violations": len(rows), "examples": ", ".join(f"{q} {h}" for q, h in rows[:5]) or "none"},
    )


matching_checks = [one_row_per_invoice, scores_in_range, no_auto_link_breaks_a_hard_rule]
