"""Text folding used wherever the generator must print a name in a restricted character set.

Documents are rendered with the PDF base-14 Helvetica font in WinAnsi (cp1252) encoding, and e-mail domains
must be ASCII. Names, though, are generated with real accents and a few non-Latin scripts, because that is
what the matcher has to cope with. These helpers decide, in one place, how such text degrades.
"""

from __future__ import annotations

import unicodedata

# Small transliteration tables: enough for the Greek and Cyrillic words the name lists use. Japanese has no
# table on purpose (no sensible per-character romanisation); Japanese vendors always carry a Latin alias.
_GREEK = dict(
    zip(
        "αβγδεζηθικλμνξοπρσςτυφχψωάέήίόύώϊϋΐΰ",
        ["a", "v", "g", "d", "e", "z", "i", "th", "i", "k", "l", "m", "n", "x", "o", "p", "r", "s", "s", "t",
         "y", "f", "ch", "ps", "o", "a", "e", "i", "i", "o", "y", "o", "i", "y", "i", "y"],
        strict=True,
    )
)
_CYRILLIC = dict(
    zip(
        "абвгдежзийклмнопрстуфхцчшщъьюя",
        ["a", "b", "v", "g", "d", "e", "zh", "z", "i", "y", "k", "l", "m", "n", "o", "p", "r", "s", "t", "u",
         "f", "h", "ts", "ch", "sh", "sht", "a", "", "yu", "ya"],
        strict=True,
    )
)
_SPECIAL = {
    "ß": "ss", "Æ": "AE", "æ": "ae", "Ø": "O", "ø": "o", "Œ": "OE", "œ": "oe", "Ł": "L", "ł": "l",
    "Đ": "D", "đ": "d", "Þ": "Th", "þ": "th", "’": "'", "‘": "'", "“": '"', "”": '"', "–": "-", "—": "-",
    "…": "...", "€": "EUR", "\u00a0": " ",
}


def strip_accents(text: str) -> str:
    """Remove combining marks (é -> e, ü -> u) but keep the base letters and every other character."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def _fold_char(ch: str) -> str:
    if ch in _SPECIAL:
        return _SPECIAL[ch]
    lower = ch.lower()
    for table in (_GREEK, _CYRILLIC):
        if lower in table:
            out = table[lower]
            return out.capitalize() if ch != lower else out
    base = strip_accents(ch)
    if base.isascii():
        return base
    return "?"


def to_ascii(text: str) -> str:
    """Best-effort ASCII rendering: accents stripped, Greek/Cyrillic transliterated, anything else '?'."""
    if text.isascii():
        return text
    return "".join(ch if ch.isascii() else _fold_char(ch) for ch in text)


def to_winansi(text: str) -> str:
    """Keep every character cp1252 can encode (accents, ß, Œ, €...) and transliterate the rest to ASCII."""
    try:
        text.encode("cp1252")
        return text
    except UnicodeEncodeError:
        out = []
        for ch in text:
            try:
                ch.encode("cp1252")
                out.append(ch)
            except UnicodeEncodeError:
                out.append(_fold_char(ch))
        return "".join(out)


def is_winansi(text: str) -> bool:
    """True when the text prints unchanged in a WinAnsi-encoded base-14 font."""
    try:
        text.encode("cp1252")
    except UnicodeEncodeError:
        return False
    return True


def slug(text: str) -> str:
    """Lower-case ASCII letters and digits only (for e-mail domains and file names)."""
    return "".join(ch for ch in to_ascii(text).lower() if ch.isalnum() and ch.isascii())
