"""`docs/tables.md`, generated: every DuckDB table and column Well creates, with what it holds and why.

Why generated: the schema is a list of migrations (`schema.py`), so no single file shows a table as it ends up.
This module builds the schema in an in-memory DuckDB through the real `migrate()`, reads the result from DuckDB's
catalog (tables, views, columns, types, nullability, defaults, primary keys, indexes, sequences) and adds the
words of `descriptions.py`. It refuses to render while a table or column lacks a description, or a description
names one the schema does not have, so the page cannot drift from the code (a test compares it with `render()`).

    python -m well_pipeline.adapters.storage.duckdb.tables_doc            # print the page
    python -m well_pipeline.adapters.storage.duckdb.tables_doc --write    # rewrite docs/tables.md
    python -m well_pipeline.adapters.storage.duckdb.tables_doc --check    # exit 1 when docs/tables.md is stale
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

import duckdb

from well_pipeline.adapters.storage.duckdb.database import migrate
from well_pipeline.adapters.storage.duckdb.descriptions import TABLES

DOC = Path(__file__).resolve().parents[4] / "docs" / "tables.md"
COMMAND = "python -m well_pipeline.adapters.storage.duckdb.tables_doc --write"


class DescriptionError(ValueError):
    """The schema and `descriptions.py` disagree; the message lists every table or column concerned."""


@dataclass(frozen=True)
class Column:
    name: str
    data_type: str
    nullable: bool
    default: str | None


@dataclass(frozen=True)
class Relation:
    """A table or view as DuckDB's catalog describes it."""

    name: str
    kind: str  # "table" or "view"
    columns: tuple[Column, ...]
    primary_key: tuple[str, ...]
    indexes: tuple[tuple[str, str], ...]  # (name, expressions)


_MAIN = "database_name = current_database() AND schema_name = 'main'"  # Well's objects, not DuckDB's own


def read_catalog(con: duckdb.DuckDBPyConnection) -> dict[str, Relation]:
    """Every table and view of the connection's main schema, by name, in the order they were created."""
    kinds = con.execute(
        f"SELECT table_name, 'table', table_oid FROM duckdb_tables() WHERE {_MAIN} AND NOT internal "
        f"UNION ALL SELECT view_name, 'view', view_oid FROM duckdb_views() WHERE {_MAIN} AND NOT internal "
        "ORDER BY 3").fetchall()
    columns: dict[str, list[Column]] = {}
    for table, name, data_type, nullable, default in con.execute(
            f"SELECT table_name, column_name, data_type, is_nullable, column_default FROM duckdb_columns() "
            f"WHERE {_MAIN} AND NOT internal ORDER BY table_oid, column_index").fetchall():
        columns.setdefault(table, []).append(Column(name, data_type, nullable, default))
    keys = dict(con.execute(
        f"SELECT table_name, constraint_column_names FROM duckdb_constraints() WHERE {_MAIN} "
        "AND constraint_type = 'PRIMARY KEY'").fetchall())
    indexes: dict[str, list[tuple[str, str]]] = {}
    for table, name, expressions in con.execute(
            f"SELECT table_name, index_name, expressions FROM duckdb_indexes() "
            f"WHERE {_MAIN} ORDER BY index_oid").fetchall():
        indexes.setdefault(table, []).append((name, expressions))
    return {name: Relation(name, kind, tuple(columns.get(name, ())), tuple(keys.get(name, ())),
                           tuple(indexes.get(name, ())))
            for name, kind, _ in kinds}


def disagreements(catalog: dict[str, Relation]) -> list[str]:
    """What stops the page from rendering: undescribed tables and columns, and descriptions of missing ones."""
    problems = []
    for name, relation in catalog.items():
        described = TABLES.get(name)
        if described is None or not described.about.strip():
            problems.append(f"{relation.kind} {name} has no description")
            continue
        problems += [f"column {name}.{c.name} has no description" for c in relation.columns
                     if not described.columns.get(c.name, "").strip()]
    for name, described in TABLES.items():
        relation = catalog.get(name)
        if relation is None:
            problems.append(f"descriptions.py describes a table {name} the schema does not have")
            continue
        present = {c.name for c in relation.columns}
        problems += [f"descriptions.py describes a column {name}.{column} the schema does not have"
                     for column in described.columns if column not in present]
    return problems


def fresh_schema() -> duckdb.DuckDBPyConnection:
    """An in-memory database migrated to the current schema, exactly as a new `well.duckdb` is."""
    con = duckdb.connect(":memory:")
    migrate(con)
    return con


def render(con: duckdb.DuckDBPyConnection | None = None) -> str:
    """The page for the schema of `con` (default: a fresh one); `DescriptionError` when it cannot be complete."""
    own = con is None
    con = fresh_schema() if con is None else con
    try:
        catalog = read_catalog(con)
        version = con.execute("SELECT max(version) FROM schema_migrations").fetchone()[0]
        sequences = [name for (name,) in con.execute(
            f"SELECT sequence_name FROM duckdb_sequences() WHERE {_MAIN} "
            "ORDER BY sequence_oid").fetchall()]
    finally:
        if own:
            con.close()
    problems = disagreements(catalog)
    if problems:
        raise DescriptionError("describe every table and column in "
                               "well_pipeline/adapters/storage/duckdb/descriptions.py:\n" + "\n".join(problems))
    ordered = [catalog[name] for name in TABLES]  # the reading order chosen in descriptions.py
    lines = [*_INTRO.format(version=version, command=COMMAND).splitlines(), ""]
    lines += ["## The tables", ""]
    lines += [f"- [`{r.name}`](#{r.name}): {_first_sentence(TABLES[r.name].about)}" for r in ordered]
    views = [r.name for r in ordered if r.kind == "view"]
    lines += ["", f"Views: {', '.join(f'`{v}`' for v in views) if views else 'none'}. Sequences: "
              + (", ".join(f"`{s}` ({_used_by(s, ordered)})" for s in sequences) if sequences else "none") + "."]
    for relation in ordered:
        lines += ["", f"## `{relation.name}`", "", TABLES[relation.name].about, "", _keys(relation), "",
                  "| column | type | null | what it holds |", "|---|---|---|---|"]
        described = TABLES[relation.name].columns
        for column in relation.columns:
            text = described[column.name] + (f" Default `{column.default}`." if column.default else "")
            lines.append(f"| `{column.name}` | `{column.data_type}` | {'yes' if column.nullable else 'no'} | "
                         f"{_cell(text)} |")
    lines += ["", *_ELSEWHERE.splitlines()]
    return "\n".join(lines) + "\n"


def _first_sentence(text: str) -> str:
    head, dot, _ = text.partition(". ")
    return head + "." if dot else text


def _keys(relation: Relation) -> str:
    kind = "View" if relation.kind == "view" else "Table"
    key = (f"primary key ({', '.join(f'`{c}`' for c in relation.primary_key)})" if relation.primary_key
           else "no primary key")
    indexes = "".join(f"; index `{name}` on `{expressions.strip('[]')}`" for name, expressions in relation.indexes)
    return f"{kind}, {key}{indexes}."


def _used_by(sequence: str, relations: list[Relation]) -> str:
    users = [f"`{r.name}.{c.name}`" for r in relations for c in r.columns if c.default and sequence in c.default]
    return "numbers " + ", ".join(users) if users else "not a column default"


def _cell(text: str) -> str:
    return text.replace("|", "&#124;").replace("\n", " ")


_INTRO = """# Well's DuckDB tables

<!-- Generated from the schema (well_pipeline/adapters/storage/duckdb/schema.py) and descriptions.py by
`{command}`; do not edit. -->

Everything Well knows about invoices, matches and deliveries is in one DuckDB file, `<data_dir>/well.duckdb`
(settings `data_dir` and `duckdb_file`; the demo's is `.well_demo/data/well.duckdb`), at schema version {version}.
Opening it for writing applies any missing migration, so an upgraded Well upgrades the file on its first run; a
migration is never edited once released.

- Times are naive UTC `TIMESTAMP`s (Qonto's offsets are converted first) unless a column says otherwise.
- Amounts are `DECIMAL(38, 9)`: exact for any decimal Qonto or a Melio export gives, never a float.
- A Qonto record is `qonto_supplier_invoices.id`, called `qonto_id` everywhere else; its `version` goes up by one
  each time Qonto changes it, and the tables that acted on a record say which version they acted on.
- The file holds IBANs and amounts: it is private (0600, in a 0700 folder). It holds no secret: secrets, the
  documents' bytes and the live sync marker are elsewhere ([What is not in DuckDB](#what-is-not-in-duckdb)).

To look inside, prefer the `well` commands (`well review list`, `well delivery status`, `well qonto status`): they
wait for a run's short writes. For SQL, open the file read-only (`.venv/bin/python`, then):

```python
import duckdb
con = duckdb.connect(".well_data/well.duckdb", read_only=True)
print(con.sql("SELECT state, count(*) FROM outbox GROUP BY ALL"))
con.close()
```

DuckDB lets one process write the file and, meanwhile, no other process open it: if the open fails with a lock
error, a run is writing: retry in a moment. Close your connection when done: while it is open no run can write
the file (each waits up to 30 s, then fails with a lock error). Never write to the file by hand; decisions go
through `well review` and `well delivery`."""

_ELSEWHERE = """## What is not in DuckDB

- **Secrets** (the Qonto refresh token, client secret or API secret, the SMTP password) are in the encrypted secret
  store `<data_dir>/secrets.enc.json` (Fernet; its key in `WELL_SECRET_KEY` or the file `secret_key_file`,
  default `<data_dir>/secret.key`), or in `WELL_SECRET_<NAME>` variables, which are never written anywhere. No
  table holds a secret. Why a file of its own: the refresh token rotates on every refresh and must be saved at once,
  even while a run holds DuckDB's single write lock.
- **The documents' bytes** are files in the attachment store, `<data_dir>/attachments/sha256/ab/cd/<sha256>`, one
  per distinct content; `qonto_attachments` holds their digest, size, type and path.
- **The live sync marker** is in the cursor of the workspace's `qonto_sync_sensor__<workspace>` sensor, kept by
  Dagster (the sensor page shows it; `well qonto rewind` moves it). `sync_state` holds the copy the last successful
  sync wrote, which `well qonto status` shows and from which a new sensor starts. The sensor knows the marker
  without opening DuckDB, which a run may be holding.
- **The first partition day** is in `<data_dir>/workspace.json`, fixed by the first `well qonto connect`: the code
  location reads it while it loads, without waiting for DuckDB.
- **The Melio exports** stay the CSV files named by `melio_vendors_csv` and `melio_bills_csv`; `melio_vendors` and
  `melio_bills` hold the rows of the last load, and `source_sha256` says which file content that was.
- **The e-mails** are not kept: each is rebuilt from the stored document when it is sent. The outbox keeps its
  Message-ID, recipient and the document's digest; the Melio inbox has the e-mail itself.
- **Dagster's records** (runs, their event logs, each partition's materialisations and metadata, asset check
  results, sensor cursors and ticks) are in the Dagster instance under `$DAGSTER_HOME`.
- **Settings** are in `well.toml` and `WELL_<NAME>` variables (`well settings` prints them)."""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    action = parser.add_mutually_exclusive_group()
    action.add_argument("--write", action="store_true", help=f"rewrite {DOC.name}")
    action.add_argument("--check", action="store_true", help=f"exit 1 when {DOC.name} is stale")
    args = parser.parse_args(argv)
    page = render()
    if not (args.write or args.check):
        sys.stdout.write(page)
        return 0
    current = DOC.read_text(encoding="utf-8") if DOC.exists() else ""
    if args.write:
        if page != current:
            DOC.write_text(page, encoding="utf-8")
        return 0
    if page != current:
        print(f"{DOC} is stale: run {COMMAND}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
