"""`well review list` and `show` on a real DuckDB file: readable, complete, ordered, and inert in a terminal."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from well_pipeline.cli.common import printable
from well_pipeline.cli.main import cli
from well_pipeline.core.scoring.model import Candidate
from well_pipeline.core.scoring.reasons import Part, Reason
from well_pipeline_tests.support.review_queue import record, write_queue

EVIL_NAME = "Evil\x1b[31m Corp\r\nFAKE\u202eLTD"
LEAKS = re.compile(r"\bNone\b|\bnan\b|\bNaT\b|22\.800000000")


def run(data_dir: Path, *args: str) -> Result:
    env = {"WELL_DATA_DIR": str(data_dir), "WELL_SETTINGS_FILE": str(data_dir / "absent.toml")}
    result = CliRunner().invoke(cli, ["review", *args], env=env)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


def write(data_dir: Path, records: list) -> None:
    write_queue(data_dir / "well.duckdb", records)


def ids_in(output: str) -> list[str]:
    return re.findall(r"^  (\S+)  ", output, flags=re.MULTILINE)


def test_printable_escapes_terminal_controls_and_keeps_text() -> None:
    assert printable("Société Générale – Lyon") == "Société Générale – Lyon"
    assert printable(EVIL_NAME) == "Evil\\x1b[31m Corp\\r\\nFAKE\\u202eLTD"
    assert printable("a\x9bb\x7fc\td\u2028e\u2066f") == "a\\x9bb\\x7fc\\td\\u2028e\\u2066f"  # C1 CSI, DEL, ...
    assert printable("C:\\x1b") == "C:\\\\x1b"  # a literal backslash never passes for an escape
    assert printable(None) == "" and printable(float("nan")) == ""


def test_list_reads_like_a_person_would(data_dir: Path) -> None:
    reasons = (Reason("IBAN_NOT_VERIFIED", Part.HARD_RULE, "no IBAN read on the invoice while one is known"),
               Reason("REVIEW", Part.DECISION, "score 84.99%: a person decides"))
    write(data_dir, [
        record("inv-capped", score=0.8499, raw_score=0.93, hard_rules=("IBAN_NOT_VERIFIED",), reasons=reasons,
               total_amount={"value": "22.8", "currency": "EUR"}, iban=None),
        record("inv-empty", score=0.61, supplier_name=None, invoice_number=None, total_amount=None, hours=1,
               candidates=()),
    ])
    result = run(data_dir, "list")
    assert result.exit_code == 0, result.output
    out = result.output
    capped_line = next(line for line in out.splitlines() if "inv-capped" in line)
    assert "84.99%, capped by IBAN_NOT_VERIFIED" in capped_line and "85.0" not in out
    assert "22.80 EUR" in capped_line and "2026-03-14" in capped_line
    assert "best: Papeterie Dupont SARL [V-1] 92%" in out
    assert "runner-up: Nordlicht Logistik GmbH [V-2] 31%" in out
    assert "why: no IBAN read on the invoice while one is known" in out
    assert "Waiting for review: showing 2 of 2" in out
    assert not LEAKS.search(out), out
    empty_line = next(line for line in out.splitlines() if "inv-empty" in line)
    assert "61.0%" in empty_line and "#" not in empty_line and "EUR" not in empty_line


def test_list_shows_n_of_m_and_all_means_all(data_dir: Path) -> None:
    write(data_dir, [record(f"inv-{n:03}", score=0.6 + n / 1000, hours=n % 24) for n in range(60)])
    default = run(data_dir, "list")
    assert "Waiting for review: showing 50 of 60" in default.output
    assert len(ids_in(default.output)) == 50 and "--all" in default.output
    everything = run(data_dir, "list", "--all")
    assert everything.exit_code == 0, everything.output
    assert "showing 60 of 60" in everything.output
    assert sorted(ids_in(everything.output)) == [f"inv-{n:03}" for n in range(60)]
    assert ids_in(everything.output)[0] == "inv-059"  # best score first
    assert len(ids_in(run(data_dir, "list", "--limit", "7").output)) == 7
    both = run(data_dir, "list", "--all", "--limit", "10")
    assert both.exit_code != 0 and "--all shows every record" in both.output


def test_frauds_first_paid_in_qonto_last_refused_apart(data_dir: Path) -> None:
    write(data_dir, [
        record("inv-paid", score=0.8499, raw_score=0.95, hard_rules=("ALREADY_PAID_IN_QONTO",)),
        record("inv-paying", score=0.8499, raw_score=0.95, hard_rules=("PAYMENT_IN_QONTO",)),
        record("inv-review", score=0.80),
        record("inv-fraud", score=0.8499, raw_score=0.90, hard_rules=("BANK_DETAILS_CHANGED",)),
        record("inv-refused", decision="refused", score=0.5499, raw_score=0.9, hard_rules=("NO_DOCUMENT",)),
    ])
    default = run(data_dir, "list").output
    assert ids_in(default) == ["inv-fraud", "inv-review", "inv-paid", "inv-paying"]
    assert "Possible payment fraud" in default and "[possible payment fraud]" in default
    assert "Already paid (or being paid) in Qonto" in default and "showing 2 of 2" in default
    assert "inv-refused" not in default
    assert "1 refused record(s) not listed: `well review list --refused` (or `--all`)" in default

    refused = run(data_dir, "list", "--refused").output
    assert ids_in(refused) == ["inv-refused"] and "Refused" in refused and "showing 1 of 1" in refused
    assert "54.99%, capped by NO_DOCUMENT" in refused

    everything = run(data_dir, "list", "--all").output
    assert ids_in(everything) == ["inv-fraud", "inv-review", "inv-paid", "inv-paying", "inv-refused"]


def test_control_characters_are_escaped_in_list_and_show(data_dir: Path) -> None:
    evil = Candidate("V-9", "Mallory\x1b]0;pwned\x07 Ltd", 0.4, 50.0, ())
    why = Reason("BANK_DETAILS_CHANGED", Part.HARD_RULE, f"IBAN differs for {EVIL_NAME}")
    write(data_dir, [record("inv-evil", supplier_name=EVIL_NAME, invoice_number="F\r1",
                            candidates=(Candidate("V-1", "Papeterie Dupont SARL", 0.9, 97.0, ()), evil),
                            hard_rules=("BANK_DETAILS_CHANGED",), score=0.8499, raw_score=0.9, reasons=(why,))])
    for args in (("list",), ("show", "inv-evil")):
        out = run(data_dir, *args).output
        assert "Evil\\x1b[31m" in out and "Corp\\r\\nFAKE\\u202eLTD" in out, out
        assert "Mallory\\x1b]0;pwned\\x07 Ltd" in out
        assert not re.search("[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]", out), repr(out)


def test_show_reads_like_list(data_dir: Path) -> None:
    reasons = (Reason("IBAN_NOT_VERIFIED", Part.HARD_RULE, "no IBAN read on the invoice while one is known"),
               Reason("REVIEW", Part.DECISION, "a person decides"))
    write(data_dir, [
        record("inv-capped", score=0.8499, raw_score=0.93, hard_rules=("IBAN_NOT_VERIFIED",), reasons=reasons,
               total_amount={"value": "22.8", "currency": "EUR"}, iban=None),
        record("inv-empty", supplier_name=None, invoice_number=None, total_amount=None, due_date=None, iban=None,
               candidates=()),
    ])
    shown = run(data_dir, "show", "inv-capped")
    assert shown.exit_code == 0, shown.output
    out = shown.output
    assert out.splitlines()[0] == "inv-capped: review at 84.99%, capped by IBAN_NOT_VERIFIED (before caps 93.0%)"
    assert "created in Qonto: 2026-03-14 09:30 UTC" in out and "22.80 EUR" in out
    assert "due 2026-04-13" in out and "why it waits: no IBAN read" in out
    assert "1. Papeterie Dupont SARL [V-1] 92% name 97%" in out
    empty = run(data_dir, "show", "inv-empty").output
    assert "invoice: (Qonto status to_review)" in empty and "chosen vendor" not in empty
    assert not LEAKS.search(out + empty), out + empty
    missing = run(data_dir, "show", "inv-\x1b[2J")
    assert missing.exit_code != 0 and "no scored record inv-\\x1b[2J" in missing.output


@pytest.mark.parametrize("command", [["review", "list"], ["delivery", "status"]])
def test_no_database_names_the_data_directory_and_the_setting_that_moves_it(tmp_path: Path,
                                                                            command: list[str]) -> None:
    """A newcomer's second terminal, pointed elsewhere than the demo's data: the error says where it looked and how
    to point it at the right place, instead of only "materialise the assets first"."""
    elsewhere = tmp_path / "not-the-demo"
    result = CliRunner().invoke(cli, command, env={"WELL_DATA_DIR": str(elsewhere)})
    assert result.exit_code != 0
    message = " ".join(result.output.split())
    assert f"no Well database at {elsewhere / 'well.duckdb'}" in message
    assert f"data directory {elsewhere.resolve()}" in message
    assert "WELL_DATA_DIR" in message and "WELL_DATA_DIR=.well_demo/data" in message
    assert not (elsewhere / "well.duckdb").exists()  # looking created nothing
