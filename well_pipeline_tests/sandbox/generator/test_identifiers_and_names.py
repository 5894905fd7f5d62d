"""IBANs, VAT numbers and names look and validate like real ones; variants are deterministic."""

from __future__ import annotations

import random
import re
from collections import Counter

import pytest

from well_pipeline.sandbox.generator import identifiers as ids
from well_pipeline.sandbox.generator.translit import is_winansi, to_ascii, to_winansi
from well_pipeline.sandbox.generator.variants import make_variant

from .conftest import VENDORS, Dataset

VAT_FORMATS = {
    "FR": r"FR\d{11}", "DE": r"DE\d{9}", "ES": r"ES[A-Z]\d{8}", "IT": r"IT\d{11}", "NL": r"NL\d{9}B\d{2}",
    "BE": r"BE[01]\d{9}", "PT": r"PT\d{9}", "IE": r"IE\d{7}[A-W]H?", "GB": r"GB\d{9}", "GR": r"EL\d{9}",
    "BG": r"BG\d{9}", "US": r"EU372\d{6}", "LU": r"LU\d{8}",
}


@pytest.mark.parametrize(
    ("iban", "valid"),
    [
        ("FR7630006000011234567890189", True),
        ("DE89 3704 0044 0532 0130 00", True),
        ("GB82WEST12345698765432", True),
        ("FR7630006000011234567890188", False),  # one digit off
        ("DE8937040044053201300", False),  # too short for DE
    ],
)
def test_iban_validator_against_published_examples(iban: str, valid: bool) -> None:
    assert ids.is_valid_iban(iban) is valid


@pytest.mark.parametrize("country", sorted(ids.IBAN_LENGTHS))
def test_generated_ibans_have_valid_check_digits(country: str) -> None:
    rng = random.Random(country)
    for _ in range(200):
        iban = ids.make_iban(rng, country)
        assert len(iban) == ids.IBAN_LENGTHS[country] and ids.is_valid_iban(iban)
        assert ids.format_iban(iban).replace(" ", "") == iban


def test_dataset_ibans_are_valid_everywhere(dataset: Dataset) -> None:
    seen = 0
    for vendor in dataset.vendors_truth:
        if vendor["iban"]:
            assert ids.is_valid_iban(vendor["iban"]), vendor
            seen += 1
    for row in dataset.melio_vendors:
        assert not row["iban"] or ids.is_valid_iban(row["iban"])
    for record in dataset.records:
        assert record["iban"] is None or ids.is_valid_iban(record["iban"])
    bank = dataset.organization["organization"]["bank_accounts"][0]
    assert ids.is_valid_iban(bank["iban"]) and bank["main"] and bank["status"] == "active"
    assert bank["balance_cents"] == round(bank["balance"] * 100)
    assert seen > 0.6 * VENDORS


def test_vat_numbers_follow_national_formats_and_check_digits(dataset: Dataset) -> None:
    by_country = Counter()
    for vendor in dataset.vendors_truth:
        vat = vendor["vat_number"]
        if not vat:
            continue
        by_country[vendor["country"]] += 1
        assert re.fullmatch(VAT_FORMATS[vendor["country"]], vat), vendor
        if vat.startswith("FR"):
            siren = vat[4:]
            assert int(vat[2:4]) == (12 + 3 * (int(siren) % 97)) % 97
        if vat.startswith("BE"):
            assert 97 - int(vat[2:10]) % 97 == int(vat[10:])
        if vat.startswith("LU"):
            assert int(vat[2:8]) % 89 == int(vat[8:])
    assert by_country["FR"] > 0 and by_country["DE"] > 0
    for vendor in dataset.vendors_truth:
        if vendor["country"] == "US":
            assert re.fullmatch(r"\d{2}-\d{7}", vendor["tin"])


def test_uuid4_from_rng_is_a_version_4_uuid() -> None:
    import uuid

    rng = random.Random(1)
    values = {ids.uuid4_from(rng) for _ in range(1000)}
    assert len(values) == 1000
    for value in values:
        parsed = uuid.UUID(value)
        assert parsed.version == 4 and parsed.variant == uuid.RFC_4122 and str(parsed) == value


def test_vendor_population_contains_the_hard_cases(dataset: Dataset) -> None:
    vendors = dataset.vendors_truth
    kinds = Counter(v["kind"] for v in vendors)
    assert kinds["near_duplicate"] >= 2 and kinds["homonym"] >= 1 and kinds["generic"] >= 2
    assert kinds["non_latin"] >= 3 and kinds["trade_name"] >= 7 and kinds["unknown_homonym"] >= 3
    names = {v["canonical_name"] for v in vendors}
    assert {"Acme SAS", "ACME Solutions SAS"} <= names
    for v in vendors:
        if v["kind"] == "non_latin":
            assert not is_winansi(v["canonical_name"]) and v["latin_alias"].isascii()
            assert v["printed_name"] == v["latin_alias"]
        if v["kind"] == "homonym":
            twin = dataset.vendor_by_id[v["related_vendor_id"]]
            assert twin["canonical_name"] == v["canonical_name"]
            # Different companies: their identifiers differ (US twins may both lack an IBAN but not a TIN).
            assert (twin["iban"], twin["vat_number"], twin["tin"]) != (v["iban"], v["vat_number"], v["tin"])
    scripts = {v["country"] for v in vendors if v["kind"] == "non_latin"}
    assert scripts == {"GR", "BG", "JP"}
    assert any(not v["canonical_name"].isascii() and is_winansi(v["canonical_name"]) for v in vendors)  # accents
    eu = sum(v["country"] not in ("US", "GB", "JP") for v in vendors)
    assert 0.6 < eu / len(vendors) < 0.8
    currencies = Counter(v["currency"] for v in vendors)
    assert currencies["EUR"] > currencies["USD"] > 0 and currencies["GBP"] > 0
    suffixes = " ".join(v["canonical_name"] for v in vendors)
    for form in ("SAS", "SARL", "GmbH", "S.L.", "Ltd", "Inc.", "LLC", "B.V."):
        assert form in suffixes, form


def test_variants_are_deterministic_and_differ_from_the_canonical_name() -> None:
    cases = [("Müller & Söhne", "GmbH"), ("Société Générale d'Électricité", "SA"), ("ACME", "SAS"),
             ("Apex Solutions", "Inc."), ("Talleres Hermanos Peña", "S.L.")]
    first = [make_variant(random.Random(7), core, suffix) for core, suffix in cases for _ in range(3)]
    second = [make_variant(random.Random(7), core, suffix) for core, suffix in cases for _ in range(3)]
    assert first == second
    rng = random.Random(11)
    ops = Counter()
    for core, suffix in cases * 200:
        variant, applied = make_variant(rng, core, suffix)
        assert variant and variant != f"{core} {suffix}" and applied
        ops.update(applied)
    for op in ("drop_suffix", "change_suffix", "strip_accents", "upper", "typo", "ampersand", "abbreviation"):
        assert ops[op] > 0, op


def test_transliteration() -> None:
    assert to_winansi("Müller & Söhne") == "Müller & Söhne"
    assert to_winansi("Αθηναϊκή") == "Athinaiki"
    assert to_ascii("Société Générale") == "Societe Generale"
    assert to_ascii("Софтуер") == "Softuer"
    assert to_winansi("株式会社") == "????"
