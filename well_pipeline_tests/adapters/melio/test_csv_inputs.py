"""Readers of the Melio CSV inputs: file-level handling, row issues with exact line numbers, value formats."""

from __future__ import annotations

import codecs
import hashlib
import re
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from well_pipeline.adapters.melio import (
    MelioCsvError,
    RowIssue,
    derive_vendor_id,
    read_ledger,
    read_vendor_directory,
)
from well_pipeline.adapters.melio.bills_csv import parse_amount, parse_date
from well_pipeline.adapters.melio.vendors_csv import check_iban

IBAN_FR = "FR7630006000011234567890189"  # valid mod-97
IBAN_DE = "DE89370400440532013000"  # valid mod-97
IBAN_DE_BAD = "DE89370400440532013001"  # one digit off: fails mod-97


def write(tmp_path: Path, name: str, text: str, encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def vendors(tmp_path: Path, text: str, encoding: str = "utf-8"):
    return read_vendor_directory(write(tmp_path, "vendors.csv", text, encoding))


def ledger(tmp_path: Path, text: str):
    return read_ledger(write(tmp_path, "bills.csv", text))


def issues(items: list[RowIssue]) -> list[str]:
    return [str(i) for i in items]


# --- file level ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name_header", ["company_name", "Company Name", " company_name ", "COMPANY NAME",
                                         "company-name", "Company_Name"])
@pytest.mark.parametrize("id_header", ["vendor_id", "Vendor ID", "VENDOR-ID"])
def test_header_variants_are_recognised(tmp_path: Path, name_header: str, id_header: str) -> None:
    load = vendors(tmp_path, f"{name_header},{id_header}\nAcme SAS,V-1\n")
    assert [(v.vendor_id, v.company_name, v.line) for v in load.rows] == [("V-1", "Acme SAS", 2)]
    assert load.notes == [] and load.errors == [] and load.warnings == []


def test_unknown_columns_are_noted_once_and_ignored(tmp_path: Path) -> None:
    load = vendors(tmp_path, "Phone,company_name,Notes\n555,Acme,x\n556,Beta,y\n")
    assert [v.company_name for v in load.rows] == ["Acme", "Beta"]
    assert load.notes == ["vendors.csv: ignored unknown column(s) 'Phone', 'Notes'"]


def test_utf8_bom_is_ignored(tmp_path: Path) -> None:
    path = tmp_path / "vendors.csv"
    path.write_bytes(codecs.BOM_UTF8 + "company_name,vendor_id\nSociété Générale,V-1\n".encode())
    load = read_vendor_directory(path)
    assert [v.company_name for v in load.rows] == ["Société Générale"]
    assert load.notes == []


def test_cp1252_fallback_is_noted(tmp_path: Path) -> None:
    load = vendors(tmp_path, "company_name,vendor_id\nAcme,V-1\nSociété Générale – Paris,V-2\n", "cp1252")
    assert [v.company_name for v in load.rows] == ["Acme", "Société Générale – Paris"]
    assert load.notes == ["vendors.csv: not valid UTF-8 (byte 0xe9 on line 3); read as Windows-1252"]


def test_semicolon_file_is_detected(tmp_path: Path) -> None:
    load = vendors(tmp_path, "company_name;vendor_id;iban\n\"Acme; Inc\";V-1;DE89 3704 0044 0532 0130 00\n"
                             "Acme, Inc;V-2;\n")
    assert [(v.company_name, v.iban) for v in load.rows] == [("Acme; Inc", IBAN_DE), ("Acme, Inc", None)]
    assert load.notes == ["vendors.csv: semicolon-delimited (European Excel export)"]


def test_single_column_comma_in_name_is_not_mistaken_for_delimiter(tmp_path: Path) -> None:
    load = vendors(tmp_path, 'company_name\n"Acme, Inc"\n')
    assert [v.company_name for v in load.rows] == ["Acme, Inc"]


@pytest.mark.parametrize("eol", ["\n", "\r\n"])
def test_quoted_newline_keeps_physical_line_numbers(tmp_path: Path, eol: str) -> None:
    text = eol.join(['company_name,vendor_id', '"Acme', 'GmbH",V-1', ',V-2', '"Beta, ""The"" Co",V-3', ''])
    load = vendors(tmp_path, text)
    assert [(v.company_name, v.line) for v in load.rows] == [("Acme GmbH", 2), ('Beta, "The" Co', 5)]
    assert issues(load.errors) == ["vendors.csv line 4: company_name is empty; row skipped"]


def test_zero_row_file(tmp_path: Path) -> None:
    load = vendors(tmp_path, "company_name,vendor_id,email,iban,vat_number\n")
    assert (load.rows, load.errors, load.warnings, load.notes) == ([], [], [], [])
    assert ledger(tmp_path, "bill_id,company_name,invoice_number\n").rows == []


def test_empty_file_is_a_file_error(tmp_path: Path) -> None:
    with pytest.raises(MelioCsvError, match=r"vendors\.csv: is empty; expected a header row of company_name"):
        vendors(tmp_path, "\n\n")


def test_missing_required_column_names_file_and_expected_columns(tmp_path: Path) -> None:
    with pytest.raises(MelioCsvError) as info:
        vendors(tmp_path, "name,vendor_id\nAcme,V-1\n")
    message = str(info.value)
    assert str(tmp_path / "vendors.csv") in message
    assert "missing required column(s) company_name" in message
    assert "company_name (required), vendor_id, email, iban, vat_number" in message
    assert "found 'name', 'vendor_id'" in message


def test_missing_required_ledger_column(tmp_path: Path) -> None:
    with pytest.raises(MelioCsvError, match=r"bills\.csv: missing required column\(s\) invoice_number;"):
        ledger(tmp_path, "bill_id,company_name,amount\nB-1,Acme,1.00\n")


def test_doubled_column_is_a_file_error(tmp_path: Path) -> None:
    with pytest.raises(MelioCsvError, match=r"column company_name appears twice \(columns 1 and 3\)"):
        vendors(tmp_path, "company_name,vendor_id,Company Name\nAcme,V-1,Acme\n")


def test_utf16_is_refused_with_advice(tmp_path: Path) -> None:
    with pytest.raises(MelioCsvError, match="UTF-16"):
        vendors(tmp_path, "\ufeffcompany_name\nAcme\n", "utf-16-le")


def test_unclosed_quote_is_a_file_error_not_a_silent_swallow(tmp_path: Path) -> None:
    with pytest.raises(MelioCsvError, match="quoted value starting on line 3 is never closed"):
        vendors(tmp_path, 'company_name,vendor_id\nAcme,V-1\n"Beta,V-2\nGamma,V-3\n')


def test_unclosed_quote_in_a_big_file_names_the_row(tmp_path: Path) -> None:
    filler = "".join(f"Vendor {i},V-{i}\n" for i in range(12_000))  # > csv's 131072-character field limit
    with pytest.raises(MelioCsvError, match="row starting on line 3: field larger than field limit"):
        vendors(tmp_path, f'company_name,vendor_id\nAcme,V-1\n"Beta,V-2\n{filler}')


@pytest.mark.parametrize("reader, label, expected", [
    (read_vendor_directory, "melio/vendors.csv", "company_name (required), vendor_id, email, iban, vat_number"),
    (read_ledger, "melio/bills.csv", "bill_id (required), company_name (required), invoice_number (required)"),
])
def test_missing_file_message(tmp_path: Path, reader, label: str, expected: str) -> None:
    missing = tmp_path / "nowhere" / "x.csv"
    with pytest.raises(FileNotFoundError) as info:
        reader(missing)
    message = str(info.value)
    assert str(missing.absolute()) in message and label in message and expected in message


def test_sha256_is_of_the_raw_bytes(tmp_path: Path) -> None:
    path = write(tmp_path, "vendors.csv", "company_name\nAcme\n")
    assert read_vendor_directory(path).sha256 == hashlib.sha256(path.read_bytes()).hexdigest()


def test_row_issue_str() -> None:
    assert str(RowIssue(Path("/data/melio/vendors.csv"), 14, "boom")) == "vendors.csv line 14: boom"


# --- vendor rows --------------------------------------------------------------------------------------------

def test_vendor_row_errors_and_warnings_have_exact_lines(tmp_path: Path) -> None:
    text = "\n".join([
        "company_name,vendor_id,email,iban,vat_number",   # 1
        f"Acme,V-1,,{IBAN_FR},",                           # 2 fine
        "  ,V-2,,,",                                       # 3 empty name -> error
        f"Beta,V-3,,{IBAN_DE_BAD},",                       # 4 checksum -> warning, kept
        "Gamma,V-4,,FR76-3000,",                           # 5 shape -> warning, kept
        "Delta,V-5,not-an-email,,",                        # 6 email -> warning, kept
        "Acme, Inc,V-6,,,",                                # 7 unquoted comma -> error
        "",                                                # 8 blank, ignored
        "Omega,V-7,Billing@Omega.COM,,",                   # 9 fine
        "",
    ])
    load = vendors(tmp_path, text)
    assert [(v.vendor_id, v.line) for v in load.rows] == [
        ("V-1", 2), ("V-3", 4), ("V-4", 5), ("V-5", 6), ("V-7", 9)]
    assert issues(load.errors) == [
        "vendors.csv line 3: company_name is empty; row skipped",
        "vendors.csv line 7: 6 values but the header has 5 columns (an unquoted ',' inside a value?); "
        "row skipped",
    ]
    assert issues(load.warnings) == [
        "vendors.csv line 4: iban 'DE89...3001' fails the checksum; kept the vendor without it",
        "vendors.csv line 5: iban 'FR76-3000' is not shaped like an IBAN (2 letters, 2 check digits, "
        "11-30 letters or digits); kept the vendor without it",
        "vendors.csv line 6: email 'not-an-email' is not an e-mail address; kept the vendor without it",
    ]
    by_id = {v.vendor_id: v for v in load.rows}
    assert by_id["V-3"].iban is None and by_id["V-5"].email is None
    assert by_id["V-7"].email == "billing@omega.com"


def test_row_wider_than_header_is_refused_even_if_extras_are_empty(tmp_path: Path) -> None:
    # Empty extras are how an unquoted comma in the name hides: "Acme, Inc" would become vendor_id " Inc".
    load = vendors(tmp_path, "company_name,vendor_id\nAcme, Inc,V-1\nBeta,V-2,\nGamma\n")
    assert [(v.company_name, v.vendor_id.startswith("csv:")) for v in load.rows] == [("Gamma", True)]
    assert issues(load.errors) == [
        "vendors.csv line 2: 3 values but the header has 2 columns (an unquoted ',' inside a value?); "
        "row skipped",
        "vendors.csv line 3: 3 values but the header has 2 columns (an unquoted ',' inside a value?); "
        "row skipped",
    ]


def test_blank_trailing_header_columns_allow_rectangular_exports(tmp_path: Path) -> None:
    load = vendors(tmp_path, "company_name,vendor_id,,\nAcme,V-1,,\n")
    assert [v.vendor_id for v in load.rows] == ["V-1"] and load.errors == []
    assert load.notes == ["vendors.csv: ignored unknown column(s) (blank), (blank)"]


def test_duplicate_vendor_id_keeps_first(tmp_path: Path) -> None:
    load = vendors(tmp_path, "company_name,vendor_id\nAcme,V-1\nBeta,V-2\nAcme Copy,V-1\n")
    assert [(v.company_name, v.line) for v in load.rows] == [("Acme", 2), ("Beta", 3)]
    assert issues(load.errors) == [
        "vendors.csv line 4: duplicate vendor_id 'V-1' as line 2; kept line 2, skipped this row"]


def test_duplicate_vendor_id_with_other_identifiers_marks_a_conflict(tmp_path: Path) -> None:
    load = vendors(tmp_path, f"company_name,vendor_id,iban\nAcme,V-1,{IBAN_FR}\nBeta,V-2,\nAcme,V-1,{IBAN_DE}\n")
    assert [(v.vendor_id, v.iban, v.line) for v in load.rows] == [("V-1", IBAN_FR, 2), ("V-2", None, 3)]
    assert load.rows[0].conflict == ("the Melio export lists vendor V-1 on lines 2 and 4 with different IBAN: "
                                     "fix the export")
    assert load.rows[1].conflict is None
    assert "hold this vendor's invoices (VENDOR_DIRECTORY_CONFLICT)" in issues(load.errors)[0]


def test_identical_rows_without_id_are_duplicates(tmp_path: Path) -> None:
    load = vendors(tmp_path, f"company_name,iban\nAcme,{IBAN_FR}\nACME ,{IBAN_FR}\nAcme,{IBAN_DE}\n")
    assert [v.line for v in load.rows] == [2, 4]
    assert len(load.errors) == 1
    assert re.fullmatch(r"vendors\.csv line 3: duplicate row: same company_name, iban and vat_number "
                        r"\(derived id 'csv:[0-9a-f]{12}'\) as line 2; kept line 2, skipped this row",
                        str(load.errors[0]))


def test_derived_vendor_id_is_stable_and_content_based(tmp_path: Path) -> None:
    first = vendors(tmp_path, f"Notes,company_name,iban\nx,Acme  SAS,{IBAN_FR}\n").rows[0].vendor_id
    again = vendors(tmp_path, f"company_name,iban\nBeta,\nacme sas,{IBAN_FR.lower()}\n").rows[1].vendor_id
    assert re.fullmatch(r"csv:[0-9a-f]{12}", first)
    assert first == again == derive_vendor_id("ACME SAS", IBAN_FR, None)
    assert derive_vendor_id("Acme SAS", IBAN_DE, None) != first
    assert derive_vendor_id("Acme SAS", None, IBAN_FR) != first  # parts are separated, not concatenated


def test_iban_email_vat_normalisation(tmp_path: Path) -> None:
    load = vendors(tmp_path, "company_name,email,iban,vat_number\n"
                             "Acme, Billing@ACME.fr ,fr76 3000 6000 0112 3456 7890 189,fr 123.456.789 01\n")
    vendor = load.rows[0]
    assert (vendor.email, vendor.iban, vendor.vat_number) == ("billing@acme.fr", IBAN_FR, "FR12345678901")
    assert load.warnings == []


@pytest.mark.parametrize("raw, expected", [
    (IBAN_FR, (IBAN_FR, None)),
    ("gb82 west 1234 5698 7654 32", ("GB82WEST12345698765432", None)),
    ("GB82WEST12345698765433", (None, "fails the checksum")),
    ("GB00", (None, "is not shaped like an IBAN (2 letters, 2 check digits, 11-30 letters or digits)")),
])
def test_check_iban(raw: str, expected: tuple[str | None, str | None]) -> None:
    assert check_iban(raw) == expected


def test_odd_unicode_is_cleaned_silently(tmp_path: Path) -> None:
    decomposed = "Socie\u0301te\u0301\u200b Ge\u0301ne\u0301rale\x07"
    load = vendors(tmp_path, f'company_name,vendor_id\n"{decomposed}",\u200bV-1\n')
    vendor = load.rows[0]
    assert vendor.company_name == "Société Générale" and vendor.vendor_id == "V-1"
    assert (load.errors, load.warnings, load.notes) == ([], [], [])


# --- ledger rows --------------------------------------------------------------------------------------------

def test_ledger_reads_all_columns(tmp_path: Path) -> None:
    load = ledger(tmp_path, "Bill ID,Company Name,Invoice-Number,INVOICE DATE,due_date,Amount,currency,status\n"
                            "MB-1,Acme,INV-7,2024-03-04,04/03/2024,\"1,234.56\",eur,paid\n")
    assert load.rows[0] == read_ledger(tmp_path / "bills.csv").rows[0]
    bill = load.rows[0]
    assert (bill.bill_id, bill.company_name, bill.invoice_number) == ("MB-1", "Acme", "INV-7")
    assert (bill.invoice_date, bill.due_date) == (date(2024, 3, 4), date(2024, 4, 3))
    assert (bill.amount, bill.currency, bill.status, bill.line) == (Decimal("1234.56"), "EUR", "paid", 2)


def test_ledger_optional_columns_may_be_absent_or_empty(tmp_path: Path) -> None:
    load = ledger(tmp_path, "bill_id,company_name,invoice_number,amount\nMB-1,Acme,INV-7,\n")
    bill = load.rows[0]
    assert (bill.invoice_date, bill.due_date, bill.amount, bill.currency, bill.status) == (None,) * 5


def test_ledger_row_errors_have_exact_lines(tmp_path: Path) -> None:
    text = "\n".join([
        "bill_id,company_name,invoice_number,invoice_date,amount,currency",  # 1
        "MB-1,Acme,INV-1,2024-01-31,10.00,EUR",                              # 2 fine
        ",Acme,INV-2,,,",                                                    # 3 no bill_id
        "MB-3,Acme,,,,",                                                     # 4 no invoice_number
        "MB-4,Acme,INV-4,2024-02-30,12.3.4,EURO",                            # 5 three problems
        '"MB-5",Beta,"INV',                                                  # 6 quoted newline ...
        '5",01/31/2024,"1,000.00",usd',                                      # 7 ... continued
        "MB-1,Acme,INV-9,,,",                                                # 8 duplicate bill_id
        "",
    ])
    load = ledger(tmp_path, text)
    assert [(b.bill_id, b.invoice_number, b.line) for b in load.rows] == [
        ("MB-1", "INV-1", 2), ("MB-5", "INV 5", 6)]
    assert load.rows[1].amount == Decimal("1000.00") and load.rows[1].currency == "USD"
    assert issues(load.errors) == [
        "bills.csv line 3: bill_id is empty; row skipped",
        "bills.csv line 4: invoice_number is empty; row skipped",
        "bills.csv line 5: invoice_date '2024-02-30' is not a calendar date; row skipped",
        "bills.csv line 5: amount '12.3.4' is not an amount like 1234.56, 1,234.56 or 1234,56; row skipped",
        "bills.csv line 5: currency 'EURO' is not a 3-letter currency code; row skipped",
        "bills.csv line 8: duplicate bill_id 'MB-1' as line 2; kept line 2, skipped this row",
    ]


def test_semicolon_ledger_with_decimal_comma(tmp_path: Path) -> None:
    load = ledger(tmp_path, "bill_id;company_name;invoice_number;amount\nMB-1;Acme, Inc;INV-1;1234,56\n")
    assert [(b.company_name, b.amount) for b in load.rows] == [("Acme, Inc", Decimal("1234.56"))]
    assert load.notes == ["bills.csv: semicolon-delimited (European Excel export)"]


@pytest.mark.parametrize("raw, expected", [
    ("1234.56", "1234.56"), ("1,234.56", "1234.56"), ("1234,56", "1234.56"), ("12,5", "12.5"),
    ("1,234,567", "1234567"), ("€1,234.56", "1234.56"), ("$ 12", "12"), ("£0.99", "0.99"),
    ("-€12.50", "-12.50"), ("€-12.50", "-12.50"), ("1234,567", "1234.567"),
])
def test_amount_formats(raw: str, expected: str) -> None:
    value = parse_amount(raw)
    assert value == Decimal(expected) and str(value) == expected


@pytest.mark.parametrize("raw, reason", [
    ("1,234", "is ambiguous"), ("1.234,56", "is not an amount"), ("12.34.56", "is not an amount"),
    ("12.50€", "is not an amount"), ("abc", "is not an amount"), ("-€-1", "has two signs"), ("€", "is not"),
])
def test_amount_refusals(raw: str, reason: str) -> None:
    with pytest.raises(ValueError, match=re.escape(reason)):
        parse_amount(raw)


@pytest.mark.parametrize("raw, expected", [
    ("2024-03-04", date(2024, 3, 4)), ("03/04/2024", date(2024, 3, 4)), ("3/4/2024", date(2024, 3, 4)),
    ("12/31/2024", date(2024, 12, 31)), ("02/29/2024", date(2024, 2, 29)),
])
def test_date_formats(raw: str, expected: date) -> None:
    assert parse_date(raw) == expected


@pytest.mark.parametrize("raw, reason", [
    ("31/12/2024", "is not MM/DD/YYYY"), ("2024/03/04", "is not a date"), ("03/04/24", "is not a date"),
    ("04.03.2024", "is not a date"), ("2024-03-04T10:00:00", "is not a date"), ("2023-02-29", "calendar"),
    ("20240304", "is not a date"),
])
def test_date_refusals(raw: str, reason: str) -> None:
    with pytest.raises(ValueError, match=re.escape(reason)):
        parse_date(raw)


def test_day_first_dates_make_swappable_slash_dates_ambiguous(tmp_path: Path) -> None:
    text = "\n".join([
        "bill_id,company_name,invoice_number,invoice_date,due_date",
        "MB-1,Acme,INV-1,2024-03-04,",           # 2 ISO: fine
        "MB-2,Acme,INV-2,03/04/2024,",           # 3 swappable: refused because of line 5
        "MB-3,Acme,INV-3,04/04/2024,",           # 4 day == month: same either way
        "MB-4,Acme,INV-4,01/02/2024,13/04/2024",  # 5 day-first
        "",
    ])
    load = ledger(tmp_path, text)
    assert [(b.bill_id, b.invoice_date) for b in load.rows] == [
        ("MB-1", date(2024, 3, 4)), ("MB-3", date(2024, 4, 4))]
    assert issues(load.errors) == [
        "bills.csv line 3: invoice_date '03/04/2024' is ambiguous: line 5 has the day-first date "
        "'13/04/2024', so day and month may be swapped here; use YYYY-MM-DD; row skipped",
        "bills.csv line 5: invoice_date '01/02/2024' is ambiguous: line 5 has the day-first date "
        "'13/04/2024', so day and month may be swapped here; use YYYY-MM-DD; row skipped",
        "bills.csv line 5: due_date '13/04/2024' is not MM/DD/YYYY (no month above 12); day-first dates "
        "are refused as ambiguous, use YYYY-MM-DD; row skipped",
    ]
