"""docs/tables.md is generated from the real schema and names every table and column with a description."""

from __future__ import annotations

from pathlib import Path

import pytest

from well_pipeline.adapters.storage.duckdb import tables_doc
from well_pipeline.adapters.storage.duckdb.descriptions import TABLES
from well_pipeline.adapters.storage.duckdb.schema import MIGRATIONS


def test_committed_doc_is_what_the_schema_renders() -> None:
    assert tables_doc.DOC.read_text(encoding="utf-8") == tables_doc.render(), (
        f"docs/tables.md is stale: run {tables_doc.COMMAND}")


def test_every_table_and_column_of_a_fresh_database_has_a_description() -> None:
    with tables_doc.fresh_schema() as con:
        catalog = tables_doc.read_catalog(con)
    # The catalog is the real one: every table the migrations create, with its columns (not an empty read).
    assert {"qonto_supplier_invoices", "scored_matches", "outbox", "delivery_holds", "schema_migrations"} \
        <= set(catalog)
    assert sum(len(r.columns) for r in catalog.values()) > 100
    for name, relation in catalog.items():
        assert TABLES[name].about.strip(), name
        for column in relation.columns:
            assert TABLES[name].columns.get(column.name, "").strip(), f"{name}.{column.name}"
    assert tables_doc.disagreements(catalog) == []


def test_a_column_or_table_added_without_a_description_stops_the_doc() -> None:
    with tables_doc.fresh_schema() as con:
        con.execute("ALTER TABLE outbox ADD COLUMN courier VARCHAR")
        con.execute("CREATE TABLE pigeons (id VARCHAR PRIMARY KEY)")
        with pytest.raises(tables_doc.DescriptionError) as raised:
            tables_doc.render(con)
    assert "column outbox.courier has no description" in str(raised.value)
    assert "table pigeons has no description" in str(raised.value)


def test_a_migration_adding_an_undescribed_column_stops_the_doc(monkeypatch: pytest.MonkeyPatch) -> None:
    """The way a real schema change arrives: a new migration, rendered by the same `migrate()`."""
    later = [*MIGRATIONS, (MIGRATIONS[-1][0] + 1, ["ALTER TABLE scored_matches ADD COLUMN confidence DOUBLE"])]
    monkeypatch.setattr("well_pipeline.adapters.storage.duckdb.database.MIGRATIONS", later)
    with pytest.raises(tables_doc.DescriptionError, match=r"column scored_matches\.confidence has no description"):
        tables_doc.render()


def test_a_description_of_a_column_the_schema_lacks_stops_the_doc() -> None:
    with tables_doc.fresh_schema() as con:
        con.execute("ALTER TABLE melio_vendors DROP COLUMN conflict")
        with pytest.raises(tables_doc.DescriptionError, match=r"describes a column melio_vendors\.conflict"):
            tables_doc.render(con)


def test_the_doc_shows_what_the_catalog_says() -> None:
    page = tables_doc.render()
    section = page.split("## `resend_approvals`", 1)[1].split("\n## ", 1)[0]
    assert "primary key (`qonto_id`, `record_version`)" in section
    assert "| `used_at` | `TIMESTAMP` | yes |" in section and "| `author` | `VARCHAR` | no |" in section
    assert "index `scored_matches_created_date` on `created_date`" in page
    assert "Default `nextval('review_decision_ids')`" in page
    assert f"at schema version {MIGRATIONS[-1][0]}" in page
    assert "## What is not in DuckDB" in page and "secrets.enc.json" in page


def test_check_and_write(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    doc = tmp_path / "tables.md"
    doc.write_text("# stale\n", encoding="utf-8")
    monkeypatch.setattr(tables_doc, "DOC", doc)
    assert tables_doc.main(["--check"]) == 1
    assert "is stale" in capsys.readouterr().err
    assert tables_doc.main(["--write"]) == 0
    assert doc.read_text(encoding="utf-8") == tables_doc.render()
    assert tables_doc.main(["--check"]) == 0
    assert tables_doc.main([]) == 0
    assert capsys.readouterr().out == tables_doc.render()
