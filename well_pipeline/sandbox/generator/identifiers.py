"""Bank and tax identifiers that pass the same checks a real matcher would run.

The matcher scores exact IBAN/VAT matches highest, and a careful one validates them first (an IBAN with a
bad mod-97 check is an OCR misread, not a new bank account). Random digit strings would therefore make the
sandbox easier than production, so every IBAN here carries correct ISO 13616 check digits, national check
digits where they are cheap to compute (FR RIB key, ES, BE, PT), and VAT numbers carry their national check
digits (FR key, DE/IT/PT/IE/GB/GR/LU schemes). US vendors get an EIN-shaped TIN instead.
"""

from __future__ import annotations

import random
import string

# Country -> (BBAN layout, bank codes). Layout letters: n = digit, a = upper-case letter, c = alphanumeric
# (digits only here, as most banks do), B = taken from the bank code list. Lengths follow the IBAN registry.
IBAN_LENGTHS: dict[str, int] = {
    "FR": 27, "DE": 22, "ES": 24, "IT": 27, "NL": 18, "BE": 16, "PT": 25, "IE": 22, "GB": 22,
    "GR": 27, "BG": 22, "LT": 20, "MT": 31, "LU": 20,
}
_BANKS: dict[str, list[str]] = {
    "FR": ["30006", "30004", "30003", "10107", "20041", "16958", "18206", "11315", "30066", "10278"],
    "DE": ["10070000", "37040044", "50010517", "20041133", "70020270", "10010010", "60050101", "12030000"],
    "ES": ["2100", "0049", "0182", "0081", "2085", "0128", "1465"],
    "IT": ["03069", "02008", "05034", "03062", "01030", "05696"],
    "NL": ["ABNA", "INGB", "RABO", "TRIO", "SNSB", "KNAB", "BUNQ"],
    "BE": ["001", "068", "310", "363", "539", "735", "967"],
    "PT": ["0035", "0033", "0010", "0007", "0036", "0018"],
    "IE": ["AIBK", "BOFI", "IPBS", "ULSB"],
    "GB": ["BARC", "NWBK", "HBUK", "LOYD", "MIDL", "REVO", "SRLG", "MONZ"],
    "GR": ["011", "014", "017", "026"],
    "BG": ["BNBG", "UNCR", "STSA", "FINV"],
    "LT": ["32500", "70440", "73000", "35000"],
    "MT": ["MALT", "VALL", "APSB"],
    "LU": ["001", "002", "003", "014", "019"],
}
_BICS: dict[str, str] = {
    "FR": "BNPAFRPP", "DE": "COBADEFF", "ES": "CAIXESBB", "IT": "BCITITMM", "NL": "ABNANL2A",
    "BE": "GEBABEBB", "PT": "CGDIPTPL", "IE": "AIBKIE2D", "GB": "BARCGB22", "GR": "ETHNGRAA",
    "BG": "UNCRBGSF", "LT": "REVOLT21", "MT": "VALLMTMT", "LU": "BCEELULL",
}
QONTO_BIC = "QNTOFRP1XXX"


def _digits(rng: random.Random, count: int) -> str:
    return "".join(rng.choice(string.digits) for _ in range(count))


def _letters(rng: random.Random, count: int) -> str:
    return "".join(rng.choice(string.ascii_uppercase) for _ in range(count))


def _alnum_to_int(text: str) -> int:
    """ISO 7064 letter expansion (A=10 ... Z=35) followed by integer conversion."""
    return int("".join(str(int(ch, 36)) for ch in text))


def iban_check_digits(country: str, bban: str) -> str:
    """The two ISO 13616 check digits for `country` + `bban` (98 - mod 97 of the rearranged string)."""
    return f"{98 - _alnum_to_int(bban + country + '00') % 97:02d}"


def is_valid_iban(iban: str) -> bool:
    """Structural and mod-97 check (spaces ignored). Knows the lengths of the countries generated here."""
    compact = iban.replace(" ", "").upper()
    country = compact[:2]
    if len(compact) < 15 or not compact.isalnum() or not compact[2:4].isdigit():
        return False
    if country in IBAN_LENGTHS and len(compact) != IBAN_LENGTHS[country]:
        return False
    return _alnum_to_int(compact[4:] + compact[:4]) % 97 == 1


def format_iban(iban: str) -> str:
    """Print form: groups of four separated by spaces (how invoices show it)."""
    return " ".join(iban[i : i + 4] for i in range(0, len(iban), 4))


def _fr_rib_key(bank: str, branch: str, account: str) -> str:
    # Letters in French account numbers map to digits; we only generate digits.
    return f"{97 - (89 * int(bank) + 15 * int(branch) + 3 * int(account)) % 97:02d}"


def _es_check(digits10: str) -> str:
    weights = (1, 2, 4, 8, 5, 10, 9, 7, 3, 6)
    value = 11 - sum(int(d) * w for d, w in zip(digits10, weights, strict=True)) % 11
    return str({10: 1, 11: 0}.get(value, value))


def make_bban(rng: random.Random, country: str, bank: str | None = None) -> str:
    """A national account number in the country's IBAN layout, with national check digits where known."""
    bank = bank or rng.choice(_BANKS[country])
    if country == "FR":
        branch, account = _digits(rng, 5), _digits(rng, 11)
        return bank + branch + account + _fr_rib_key(bank, branch, account)
    if country == "DE":
        return bank + _digits(rng, 10)
    if country == "ES":
        branch, account = _digits(rng, 4), _digits(rng, 10)
        return bank + branch + _es_check("00" + bank + branch) + _es_check(account) + account
    if country == "IT":
        return rng.choice(string.ascii_uppercase) + bank + _digits(rng, 5) + _digits(rng, 12)
    if country == "NL":
        return bank + _digits(rng, 10)
    if country == "BE":
        first10 = bank + _digits(rng, 7)
        check = int(first10) % 97 or 97
        return f"{first10}{check:02d}"
    if country == "PT":
        first19 = bank + _digits(rng, 4) + _digits(rng, 11)
        return f"{first19}{98 - (int(first19) * 100) % 97:02d}"
    if country in ("IE", "GB"):
        return bank + _digits(rng, 6) + _digits(rng, 8)
    if country == "GR":
        return bank + _digits(rng, 4) + _digits(rng, 16)
    if country == "BG":
        return bank + _digits(rng, 4) + _digits(rng, 2) + _digits(rng, 8)
    if country == "LT":
        return bank + _digits(rng, 11)
    if country == "MT":
        return bank + _digits(rng, 5) + _digits(rng, 18)
    if country == "LU":
        return bank + _digits(rng, 13)
    raise ValueError(f"no IBAN layout for {country}")


def make_iban(rng: random.Random, country: str, bank: str | None = None) -> str:
    """A valid compact IBAN (no spaces) for `country`."""
    bban = make_bban(rng, country, bank)
    iban = country + iban_check_digits(country, bban) + bban
    assert len(iban) == IBAN_LENGTHS[country], (country, iban)
    return iban


def make_bic(country: str, rng: random.Random) -> str:
    """A plausible 11-character BIC for a bank in `country` (branch code XXX or a 3-character branch)."""
    base = _BICS.get(country, "DEUTDEFF")
    return base + rng.choice(["XXX", "XXX", "XXX", _digits(rng, 3)])


def _luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def _luhn_complete(prefix: str) -> str:
    for last in string.digits:
        if _luhn_ok(prefix + last):
            return prefix + last
    raise AssertionError("unreachable")


def make_siren(rng: random.Random) -> str:
    """A 9-digit French company number (SIREN) that passes the Luhn check."""
    return _luhn_complete(str(rng.randint(1, 9)) + _digits(rng, 7))


def fr_vat_from_siren(siren: str) -> str:
    """FR + key + SIREN, key = (12 + 3 * (SIREN mod 97)) mod 97."""
    return f"FR{(12 + 3 * (int(siren) % 97)) % 97:02d}{siren}"


def _de_check(first8: str) -> str:
    product = 10
    for ch in first8:
        total = (int(ch) + product) % 10 or 10
        product = (2 * total) % 11
    check = 11 - product
    return "0" if check == 10 else str(check % 10)


def _es_cif(rng: random.Random) -> str:
    letter = rng.choice("AABBBBB")
    body = _digits(rng, 7)
    odd = sum(sum(divmod(int(body[i]) * 2, 10)) for i in (0, 2, 4, 6))
    even = sum(int(body[i]) for i in (1, 3, 5))
    return f"{letter}{body}{(10 - (odd + even) % 10) % 10}"


def _pt_check(first8: str) -> str:
    value = 11 - sum(int(d) * (9 - i) for i, d in enumerate(first8)) % 11
    return "0" if value >= 10 else str(value)


def _ie_letter(seven: str) -> str:
    total = sum(int(d) * (8 - i) for i, d in enumerate(seven))
    return "WABCDEFGHIJKLMNOPQRSTUV"[total % 23]


def _gb_vat(rng: random.Random) -> str:
    while True:
        first7 = str(rng.randint(1, 9)) + _digits(rng, 6)
        total = sum(int(d) * w for d, w in zip(first7, range(8, 1, -1), strict=True))
        check = (-total) % 97
        if check < 100:
            return f"GB{first7}{check:02d}"


def _gr_check(first8: str) -> str:
    return str(sum(int(d) * 2 ** (8 - i) for i, d in enumerate(first8)) % 11 % 10)


def make_vat(rng: random.Random, country: str) -> str:
    """A VAT identification number in the country's format, with its national check digit where defined."""
    if country == "FR":
        return fr_vat_from_siren(make_siren(rng))
    if country == "DE":
        first8 = str(rng.randint(1, 9)) + _digits(rng, 7)
        return f"DE{first8}{_de_check(first8)}"
    if country == "ES":
        return "ES" + _es_cif(rng)
    if country == "IT":
        return "IT" + _luhn_complete(_digits(rng, 7) + f"{rng.randint(1, 100):03d}")
    if country == "NL":
        return f"NL{_digits(rng, 9)}B{rng.choice(['01', '01', '01', '02'])}"
    if country == "BE":
        first8 = rng.choice("01") + _digits(rng, 7)
        return f"BE{first8}{97 - int(first8) % 97:02d}"
    if country == "PT":
        first8 = rng.choice("56") + _digits(rng, 7)
        return f"PT{first8}{_pt_check(first8)}"
    if country == "IE":
        seven = _digits(rng, 7)
        return f"IE{seven}{_ie_letter(seven)}" + rng.choice(["", "", "H"])
    if country == "GB":
        return _gb_vat(rng)
    if country == "GR":
        first8 = "0" + _digits(rng, 7)
        return f"EL{first8}{_gr_check(first8)}"
    if country == "BG":
        return "BG" + str(rng.randint(1, 2)) + _digits(rng, 8)
    if country == "LU":
        # LU + 6 digits + their value mod 89 on two digits.
        first6 = str(rng.randint(1, 9)) + _digits(rng, 5)
        return f"LU{first6}{int(first6) % 89:02d}"
    if country == "US":
        # Non-EU sellers of digital services register under the EU One-Stop-Shop scheme: EU + 9 digits.
        return "EU372" + _digits(rng, 6)
    raise ValueError(f"no VAT format for {country}")


_EIN_PREFIXES = (
    "01 02 03 04 05 06 10 11 12 13 14 15 16 20 21 22 23 24 25 26 27 30 31 32 33 34 35 36 37 38 39 40 41 42 "
    "43 44 45 46 47 48 50 51 52 53 54 55 56 57 58 59 60 61 62 63 64 65 66 67 68 71 72 73 74 75 76 77 80 81 "
    "82 83 84 85 86 87 88 90 91 92 93 94 95 98 99"
).split()


def make_ein(rng: random.Random) -> str:
    """A US Employer Identification Number shape: valid IRS campus prefix, `NN-NNNNNNN`."""
    return f"{rng.choice(_EIN_PREFIXES)}-{_digits(rng, 7)}"


def make_jp_invoice_number(rng: random.Random) -> str:
    """Japanese qualified-invoice issuer number: T + 13 digits."""
    return "T" + str(rng.randint(1, 9)) + _digits(rng, 12)


def uuid4_from(rng: random.Random) -> str:
    """A version-4 UUID string drawn from the seeded generator (uuid.uuid4() would break determinism)."""
    value = rng.getrandbits(128)
    value &= ~(0xF000 << 64)
    value |= 0x4000 << 64
    value &= ~(0xC000 << 48)
    value |= 0x8000 << 48
    h = f"{value:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
