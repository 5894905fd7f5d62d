"""Supplier-name variants as OCR engines and people produce them.

Qonto's `supplier_name` is read off the document by OCR, and Melio's vendor directory was typed by people, so
the same company shows up as "Müller & Söhne GmbH", "MULLER UND SOHNE", "Muller & Sohne Gmbh" or "Mûller &
Söhne". The fuzzy half of the matcher exists for exactly this; each transformation below is one family of
real-world drift, and `make_variant` stacks one to three of them. Everything is driven by the caller's rng so
the dataset stays deterministic.
"""

from __future__ import annotations

import random
import re
import string
from collections.abc import Callable

from .translit import strip_accents

_SUFFIX_SPELLINGS: dict[str, tuple[str, ...]] = {
    "SAS": ("S.A.S.", "Sas", "S.A.S"), "SASU": ("S.A.S.U.", "Sasu"), "SARL": ("S.A.R.L.", "Sarl", "SARL."),
    "EURL": ("E.U.R.L.", "Eurl"), "SA": ("S.A.", "Sa"), "SNC": ("S.N.C.",),
    "GmbH": ("Gmbh", "GMBH", "G.m.b.H.", "GmbH."), "GmbH & Co. KG": ("GmbH & Co KG", "GmbH&Co.KG", "Gmbh + Co. KG"),
    "AG": ("A.G.", "Ag"), "KG": ("K.G.",), "e.K.": ("eK", "e. K."),
    "UG (haftungsbeschränkt)": ("UG", "UG (haftungsbeschrankt)"),
    "S.L.": ("SL", "S.L", "Sl"), "S.A.": ("SA", "S.A", "Sa"), "S.L.U.": ("SLU", "S.L.U"), "S.Coop.": ("S. Coop.",),
    "S.r.l.": ("Srl", "S.R.L.", "s.r.l", "SRL"), "S.p.A.": ("SpA", "S.P.A.", "Spa"), "S.n.c.": ("Snc", "s.n.c."),
    "S.a.s.": ("Sas", "s.a.s."), "S.r.l.s.": ("Srls",),
    "B.V.": ("BV", "B.V", "Bv"), "N.V.": ("NV",), "V.O.F.": ("VOF", "v.o.f."), "BV": ("B.V.",),
    "BVBA": ("bvba", "B.V.B.A."), "SRL": ("S.R.L.", "Srl"), "SPRL": ("S.P.R.L.", "Sprl"), "NV": ("N.V.",),
    "Lda": ("Lda.", "Limitada", "LDA"), "Lda.": ("Lda", "Limitada"), "Unipessoal Lda": ("Unip. Lda", "Lda"),
    "Ltd": ("Ltd.", "Limited", "LTD"), "Limited": ("Ltd", "Ltd.", "LIMITED"), "DAC": ("D.A.C.",),
    "PLC": ("plc", "Plc", "P.L.C."), "LLP": ("L.L.P.", "llp"), "Teoranta": ("Teo.",),
    "Inc.": ("Inc", "Incorporated", "INC"), "LLC": ("L.L.C.", "Llc", "LLC."), "Corp.": ("Corp", "Corporation"),
    "Co.": ("Co", "Company"), "L.P.": ("LP",), "Co., Ltd.": ("Co Ltd", "Co.,Ltd."), "K.K.": ("KK", "Kabushiki Kaisha"),
    "EPE": ("E.P.E.",), "OOD": ("O.O.D.", "Ltd"), "EOOD": ("E.O.O.D.",), "AD": ("A.D.", "JSC"),
    "S.à r.l.": ("S.a r.l.", "Sàrl", "SARL", "S.à.r.l."),
}
_OTHER_FORMS = ("SAS", "SARL", "SA", "Ltd", "Inc.", "GmbH", "LLC", "S.L.", "B.V.", "Sàrl")

_ABBREVIATIONS: dict[str, str] = {
    "Société": "Sté", "Établissements": "Ets", "Compagnie": "Cie", "Company": "Co", "International": "Intl",
    "Services": "Svcs", "Gebrüder": "Gebr.", "Hermanos": "Hnos.", "Brothers": "Bros.", "Corporation": "Corp",
    "Technologies": "Tech", "Solutions": "Sol.", "Informatique": "Info", "Consulting": "Cons.", "Fratelli": "F.lli",
    "Transports": "Transp.", "Logistique": "Log.", "Distribuciones": "Dist.", "Construcciones": "Const.",
    "Engineering": "Eng.", "Manufacturing": "Mfg", "Industries": "Ind.", "Generale": "Gen.", "Générale": "Gle",
    "Technische": "Techn.", "Dienstleistungen": "DL", "Elektrotechnik": "E-Technik",
}
_AND_WORDS = ("et", "und", "and", "y", "e", "en")
# Characters OCR engines confuse, in both directions.
_OCR_CONFUSIONS: dict[str, str] = {
    "O": "0", "0": "O", "l": "1", "1": "l", "I": "l", "e": "c", "c": "e", "m": "rn", "S": "5", "B": "8", "G": "6",
    "u": "v", "n": "h", "é": "e", "ü": "u", "ö": "o",
}


def _drop_suffix(rng: random.Random, core: str, suffix: str, name: str) -> str:
    return core


def _change_suffix(rng: random.Random, core: str, suffix: str, name: str) -> str:
    options = _SUFFIX_SPELLINGS.get(suffix)
    if options and rng.random() < 0.95:
        new = rng.choice(options)
    else:
        new = rng.choice([f for f in _OTHER_FORMS if f != suffix])
    return f"{core} {new}"


def _strip_accents(rng: random.Random, core: str, suffix: str, name: str) -> str:
    return strip_accents(name)


def _upper(rng: random.Random, core: str, suffix: str, name: str) -> str:
    return name.upper()


def _lower(rng: random.Random, core: str, suffix: str, name: str) -> str:
    return name.lower()


def _title(rng: random.Random, core: str, suffix: str, name: str) -> str:
    return string.capwords(name)


def _punctuation(rng: random.Random, core: str, suffix: str, name: str) -> str:
    roll = rng.random()
    if roll < 0.5:
        return re.sub(r"[.,']", "", name)
    if roll < 0.75:
        return name.replace("'", " ").replace("-", " ")
    return name.replace(" ", " - ", 1) if " " in name else name + "."


def _spacing(rng: random.Random, core: str, suffix: str, name: str) -> str:
    spaces = [i for i, ch in enumerate(name) if ch == " "]
    if not spaces:
        return " " + name
    i = rng.choice(spaces)
    if rng.random() < 0.5:
        return name[:i] + name[i + 1 :]  # OCR merged two words
    return name[:i] + "  " + name[i + 1 :]  # doubled space


def _ampersand(rng: random.Random, core: str, suffix: str, name: str) -> str:
    if " & " in name:
        return name.replace(" & ", f" {rng.choice(('and', 'et', 'und', '+', '&amp;'))} ", 1)
    for word in _AND_WORDS:
        token = f" {word} "
        if token in name:
            return name.replace(token, rng.choice((" & ", "&", " + ")), 1)
    return name


def _abbreviate(rng: random.Random, core: str, suffix: str, name: str) -> str:
    for long, short in _ABBREVIATIONS.items():
        if long in name:
            return name.replace(long, short, 1)
    return name


def _typo(rng: random.Random, core: str, suffix: str, name: str) -> str:
    chars = list(name)
    for _ in range(rng.choice((1, 1, 2))):
        positions = [i for i, ch in enumerate(chars) if ch.isalnum()]
        if len(positions) < 3:
            break
        i = rng.choice(positions)
        kind = rng.random()
        if kind < 0.35 and chars[i] in _OCR_CONFUSIONS:
            chars[i] = _OCR_CONFUSIONS[chars[i]]
        elif kind < 0.55:
            del chars[i]
        elif kind < 0.75 and i + 1 < len(chars):
            chars[i], chars[i + 1] = chars[i + 1], chars[i]
        elif kind < 0.9:
            chars.insert(i, chars[i])
        else:
            chars[i] = rng.choice(string.ascii_lowercase)
    return "".join(chars)


def _truncate(rng: random.Random, core: str, suffix: str, name: str) -> str:
    # OCR stopping at a line break or a logo: keep the first words only.
    words = name.split()
    if len(words) < 4:
        return name
    return " ".join(words[: rng.randint(2, len(words) - 2)])


Transform = Callable[[random.Random, str, str, str], str]

# (name, function, weight). Suffix-level operations must run first because later ones change the string
# they would split.
_TRANSFORMS: tuple[tuple[str, Transform, int], ...] = (
    ("drop_suffix", _drop_suffix, 26),
    ("change_suffix", _change_suffix, 16),
    ("strip_accents", _strip_accents, 18),
    ("upper", _upper, 12),
    ("lower", _lower, 4),
    ("title", _title, 4),
    ("punctuation", _punctuation, 9),
    ("spacing", _spacing, 5),
    ("ampersand", _ampersand, 7),
    ("abbreviation", _abbreviate, 7),
    ("typo", _typo, 12),
    ("truncate", _truncate, 3),
)
_SUFFIX_OPS = frozenset({"drop_suffix", "change_suffix"})


def make_variant(rng: random.Random, core: str, suffix: str) -> tuple[str, tuple[str, ...]]:
    """Return (variant, applied transformation names). The variant always differs from the canonical name."""
    canonical = f"{core} {suffix}".strip()
    count = rng.choices((1, 2, 3), weights=(60, 30, 10))[0]
    names = [t[0] for t in _TRANSFORMS]
    weights = [t[2] for t in _TRANSFORMS]
    chosen: list[str] = []
    while len(chosen) < count:
        pick = rng.choices(names, weights=weights)[0]
        if pick in chosen or (pick in _SUFFIX_OPS and chosen and chosen[0] in _SUFFIX_OPS):
            continue
        chosen.append(pick)
    # Suffix operations work on the split form, so they go first.
    chosen.sort(key=lambda op: 0 if op in _SUFFIX_OPS else 1)
    funcs = dict((t[0], t[1]) for t in _TRANSFORMS)
    value = canonical
    applied: list[str] = []
    for op in chosen:
        new = funcs[op](rng, core, suffix, value)
        if new and new != value:
            value = new
            applied.append(op)
    value = value.strip() or canonical
    if value == canonical:
        # Nothing changed (e.g. "ACME SAS" upper-cased): fall back to the first transformation that bites.
        for op, func in (("upper", _upper), ("lower", _lower), ("typo", _typo), ("punctuation", _punctuation)):
            value = func(rng, core, suffix, canonical)
            if value.strip() and value != canonical:
                applied = [op]
                break
        else:
            value, applied = canonical + ".", ["punctuation"]
    return value, tuple(applied)
