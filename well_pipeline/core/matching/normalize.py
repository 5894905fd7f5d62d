"""Company-name and identifier normalisation: the same supplier written many ways becomes one key.

OCR and people write "Müller & Söhne GmbH", "MULLER UND SOHNE", "Muller+Sohne G.m.b.H." for one company.
Normalising removes what carries no identity (case, accents, punctuation, connectors, legal form) so that exact
lookups catch most variants and the fuzzy matcher only sees the genuinely different ones. Non-Latin scripts are
transliterated with `anyascii` (a maintained table covering every Unicode script; a hand-written one would
cover a few) so "ООО Ромашка" meets "Romashka".
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache

from anyascii import anyascii
from rapidfuzz.distance import OSA

# Legal forms, written as normalised token sequences. Longest first so "gmbh co kg" wins over "kg".
_LEGAL_FORMS_RAW = """
gmbh co kg|gmbh co kgaa|gmbh co|ag co kg|se co kg|co kg|ug haftungsbeschrankt|haftungsbeschrankt
s a s u|s a s|s a r l|s a r l u|e u r l|s n c|s c i|s c o p|s c s|s e l a r l|s c p
sasu|sas|sarl|eurl|sa|snc|sci|scop|selarl|scp|sca
gmbh|mbh|ag|kg|kgaa|ohg|ug|ek|e k|e v|ev|se
s l u|s l|s a u|s coop|slu|sl|sau|scoop|sc
s r l s|s r l|s p a|s a p a|s n c|s a s|srls|srl|spa|sapa
b v|n v|v o f|c v|bv|nv|vof|cv
b v b a|s p r l|bvba|sprl|srl|vzw|asbl
unipessoal lda|unip lda|lda|ltda|limitada|s a
ltd|limited|plc|llp|lp|l p|dac|teoranta|clg|uc|ulc
inc|incorporated|llc|l l c|corp|corporation|co|company|pllc|pc|p c
co ltd|k k|kk|kabushiki kaisha|kabushikigaisha|yugen kaisha|godo kaisha|gk
ooo|oao|zao|pao|ao|ip|tov|pp
ae|a e|epe|e p e|ike|i k e|oe|ee
ood|eood|ad|jsc|ead
sp z o o|spolka z o o|sp k|s a|a s|as|aps|a s|oy|oyj|ab|asa|hf|ehf
pte ltd|pty ltd|pty|pte|sdn bhd|bhd|pvt ltd|pvt
"""
LEGAL_FORMS: tuple[tuple[str, ...], ...] = tuple(
    sorted({tuple(form.split()) for line in _LEGAL_FORMS_RAW.strip().splitlines() for form in line.split("|")},
           key=len, reverse=True)
)
# Spellings of one legal form, and the bilingual twins of Belgium (NV = SA, BV = SRL), mapped to one name.
_LEGAL_FORM_CANON = {
    "s a s": "sas", "s a s u": "sasu", "s a r l": "sarl", "s a r l u": "sarl", "e u r l": "eurl", "s a": "sa",
    "nv": "sa", "n v": "sa", "s a u": "sau", "mbh": "gmbh", "e k": "ek", "s l": "sl", "s l u": "slu",
    "s r l": "srl", "s r l s": "srls", "s p a": "spa", "b v": "bv", "b v b a": "bvba", "limited": "ltd",
    "incorporated": "inc", "corporation": "corp", "company": "co", "l l c": "llc", "l p": "lp",
    "limitada": "lda", "ltda": "lda", "unip lda": "unipessoal lda", "k k": "kk", "kabushiki kaisha": "kk",
    "kabushikigaisha": "kk", "a e": "ae", "e p e": "epe", "i k e": "ike", "sprl": "srl", "bvba": "srl",
    "gmbh co": "gmbh co kg", "ug haftungsbeschrankt": "ug", "haftungsbeschrankt": "ug",
}


def canonical_legal_form(form: tuple[str, ...] | None) -> str | None:
    if not form:
        return None
    joined = " ".join(form)
    return _LEGAL_FORM_CANON.get(joined, joined.replace(" ", ""))


# CJK legal forms, removed before transliteration (anyascii would turn 株式会社 into "ZhuShiHuiShe").
_CJK_LEGAL = ("株式会社", "有限会社", "合同会社", "有限公司", "股份有限公司", "(株)", "㈱")
# Words that join names and carry no identity, in the languages of Qonto's and Melio's customers.
_CONNECTORS = frozenset({"and", "et", "und", "y", "e", "en", "the", "de", "d", "l", "la", "le", "les", "des", "du",
                         "der",
                         "die", "das", "van", "von", "del", "di", "da"})
# Only abbreviations that cannot be a word of their own ("sol", "log" or "gen" could be).
_ABBREVIATIONS = {
    "ste": "societe", "ets": "etablissements", "cie": "compagnie", "intl": "international", "svcs": "services",
    "svc": "services", "gebr": "gebruder", "hnos": "hermanos", "bros": "brothers", "mfg": "manufacturing",
    "transp": "transports", "techn": "technische", "flli": "fratelli", "assoc": "associates", "mgmt": "management",
    "grp": "group", "gle": "generale",
}
_NON_ALNUM = re.compile(r"[^a-z0-9]+")
_INVISIBLE = dict.fromkeys(i for i in range(0x20) if i not in (9, 10, 13)) | {0x200B: None, 0x200C: None,
                                                                              0x200D: None, 0xFEFF: None}


@dataclass(frozen=True)
class NameKey:
    """A normalised company name: `key` for exact lookups and fuzzy scoring, `tokens` for blocking.

    `key` keeps the token order (for `ratio`); `sorted_key` sorts tokens (catches "Dupont Papeterie" vs
    "Papeterie Dupont"). `legal_only` is True when the name was nothing but a legal form (e.g. "SARL"): such a
    name carries no identity and gives no name evidence.
    """

    key: str
    sorted_key: str
    tokens: tuple[str, ...]
    legal_only: bool = False
    legal_form: str | None = None   # canonical legal form found in the name ("sas", "gmbh", "ltd"), if any
    # The key without spaces: "westfield services" and "westfieldservices" meet here (kept, not recomputed:
    # the scorer reads it for every candidate pair).
    compact: str = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "compact", self.key.replace(" ", ""))

    @property
    def empty(self) -> bool:
        return not self.key


EMPTY_NAME = NameKey("", "", (), False)


def _ascii_fold(text: str) -> str:
    if text.isascii():
        return text.translate(_INVISIBLE).lower()
    text = unicodedata.normalize("NFKC", text).translate(_INVISIBLE)
    for form in _CJK_LEGAL:
        text = text.replace(form, " ")
    return anyascii(text).lower()


# Legal forms OCR glues to the previous word ("FACILITIESLIMITED") or garbles ("Ihc", "LLLC", "Copmany").
_GLUED_FORMS = ("limited", "gmbh", "sarl", "llc", "ltd", "inc", "corp", "company")
_SINGLE_FORMS = tuple(sorted({f[0] for f in LEGAL_FORMS if len(f) == 1 and len(f[0]) >= 3}))
_FORM_SET = frozenset(LEGAL_FORMS)
_FORM_LENGTHS = tuple(sorted({len(f) for f in LEGAL_FORMS}, reverse=True))
_SINGLE_FORMS_BY_LENGTH: dict[int, tuple[str, ...]] = {}
for _form in _SINGLE_FORMS:
    for _n in (len(_form) - 1, len(_form), len(_form) + 1):
        _SINGLE_FORMS_BY_LENGTH[_n] = (*_SINGLE_FORMS_BY_LENGTH.get(_n, ()), _form)


def _unglue_and_repair(tokens: list[str]) -> list[str]:
    """Split a legal form glued to the last word; replace a last token one edit away from a legal form."""
    if not tokens:
        return tokens
    last = tokens[-1]
    for form in _GLUED_FORMS:
        if last.endswith(form) and len(last) - len(form) >= 4 and last not in _SINGLE_FORMS:
            return [*tokens[:-1], last[: -len(form)], form]
    if len(tokens) >= 2 and len(last) >= 3 and (last,) not in _FORM_SET and not last.isdigit():
        for form in _SINGLE_FORMS_BY_LENGTH.get(len(last), ()):
            if _one_slip_from(last, form):
                return [*tokens[:-1], form]
    return tokens


def _one_slip_from(token: str, form: str) -> bool:
    """An OCR slip of a legal form: one substituted or swapped letter, or one letter doubled ("lllc").

    Short forms only accept a same-length slip (so the word "inca" is not read as "inc"); forms of five
    letters or more ("limited", "company") also accept one inserted or missing letter.
    """
    if token == form:
        return False
    if len(token) == len(form):
        return OSA.distance(token, form, score_cutoff=1) <= 1
    if len(token) == len(form) + 1 and any(token[i] == token[i - 1] and token[:i] + token[i + 1:] == form
                                           for i in range(1, len(token))):
        return True
    return len(form) >= 5 and abs(len(token) - len(form)) == 1 and OSA.distance(token, form, score_cutoff=1) <= 1


def _strip_legal_forms(tokens: list[str]) -> tuple[list[str], tuple[str, ...] | None]:
    """Remove legal forms at the end (repeatedly) and at the start ("SARL Dupont"); return the outermost one."""
    tokens = _unglue_and_repair(tokens)
    found: tuple[str, ...] | None = None
    changed = True
    while changed and tokens:
        changed = False
        for n in _FORM_LENGTHS:
            if len(tokens) >= n and tuple(tokens[-n:]) in _FORM_SET:
                found = found or tuple(tokens[-n:])
                tokens = tokens[:-n]
                changed = True
                break
    for n in _FORM_LENGTHS:
        head = tuple(tokens[:n])
        if len(tokens) > n and head in _FORM_SET and len("".join(head)) >= 3:
            tokens = tokens[n:]
            found = found or head
            break
    return tokens, found


@lru_cache(maxsize=262_144)
def normalize_name(name: str | None) -> NameKey:
    """Normalise a company name; None or blank gives EMPTY_NAME. Cached: suppliers repeat across invoices."""
    if not name or not name.strip():
        return EMPTY_NAME
    folded = _ascii_fold(name).replace("&", " and ").replace("+", " and ").replace("@", " at ")
    # Dotted abbreviations ("S.A.R.L.", "G.m.b.H.") become single tokens before punctuation splits them.
    folded = re.sub(r"\b((?:[a-z]\.){2,}[a-z]?\.?)", lambda m: m.group(1).replace(".", ""), folded)
    raw_tokens = [t for t in _NON_ALNUM.split(folded) if t]
    tokens, form = _strip_legal_forms(raw_tokens)
    tokens = [_ABBREVIATIONS.get(t, t) for t in tokens if t not in _CONNECTORS]
    if not tokens:
        return NameKey("", "", (), legal_only=bool(raw_tokens))
    return NameKey(" ".join(tokens), " ".join(sorted(tokens)), tuple(tokens), legal_form=canonical_legal_form(form))


@lru_cache(maxsize=262_144)
def normalize_iban(iban: str | None) -> str | None:
    """Upper-case, no spaces or separators; None when nothing is left."""
    if not iban:
        return None
    value = re.sub(r"[^0-9A-Za-z]", "", iban).upper()
    return value or None


@lru_cache(maxsize=262_144)
def iban_is_valid(iban: str | None) -> bool:
    """ISO 13616 mod-97 check (catches OCR misreads of a digit)."""
    value = normalize_iban(iban)
    if not value or len(value) < 15 or len(value) > 34 or not value[:2].isalpha() or not value[2:4].isdigit():
        return False
    rearranged = value[4:] + value[:4]
    digits = "".join(str(int(c, 36)) for c in rearranged)
    return int(digits) % 97 == 1


_VAT_PREFIXES = frozenset("AT BE BG CY CZ DE DK EE EL GR ES FI FR HR HU IE IT LT LU LV MT NL PL PT RO SE SI SK XI GB "
                          "CH NO".split())


def normalize_vat(vat: str | None) -> str | None:
    """The VAT number without separators or its country prefix: "FR 40 303 265 045" and "40303265045" meet.

    Invoices often print the number without its prefix; comparing the national part keeps that from reading as a
    VAT conflict (which holds a record). Two countries sharing a national number is negligible at this length.
    """
    if not vat:
        return None
    value = re.sub(r"[^0-9A-Za-z]", "", vat).upper()
    if len(value) >= 10 and value[:2] in _VAT_PREFIXES:
        value = value[2:]
    return value or None


# Second-level suffixes under which companies register ("acme.co.uk"), so "billing.acme.co.uk" keeps three labels.
_SECOND_LEVEL_SUFFIXES = frozenset({"co.uk", "org.uk", "ac.uk", "gov.uk", "me.uk", "com.au", "net.au", "co.nz",
                                    "co.jp", "co.za", "com.br", "com.mx", "com.ar", "com.tr", "com.cn", "co.in",
                                    "gouv.fr", "asso.fr", "com.es", "com.pt", "co.il", "com.sg"})


def email_domain(email: str | None) -> str | None:
    """The registrable domain of an address, lower case ("billing.acme.co.uk" → "acme.co.uk"); None for free-mail
    domains that identify nobody. The sender's mail subdomain carries no identity of its own."""
    if not email or "@" not in email:
        return None
    domain = email.rsplit("@", 1)[1].strip().lower().rstrip(".")
    labels = [label for label in domain.split(".") if label]
    if len(labels) < 2:
        return None
    keep = 3 if ".".join(labels[-2:]) in _SECOND_LEVEL_SUFFIXES and len(labels) >= 3 else 2
    domain = ".".join(labels[-keep:])
    if domain in FREE_MAIL_DOMAINS:
        return None
    return domain


FREE_MAIL_DOMAINS = frozenset({
    "gmail.com", "googlemail.com", "yahoo.com", "yahoo.fr", "hotmail.com", "hotmail.fr", "outlook.com", "outlook.fr",
    "live.com", "live.fr", "icloud.com", "me.com", "aol.com", "gmx.de", "gmx.net", "web.de", "orange.fr", "free.fr",
    "wanadoo.fr", "laposte.net", "sfr.fr", "protonmail.com", "proton.me", "libero.it", "t-online.de",
})


_INVOICE_NUMBER_NOISE = re.compile(r"[^0-9A-Za-z]")


@lru_cache(maxsize=262_144)
def normalize_invoice_number(number: str | None) -> str | None:
    """"F-2024/00123" and "f2024 00123" are the same invoice number; leading zeros of a run are kept."""
    if not number:
        return None
    value = _INVOICE_NUMBER_NOISE.sub("", anyascii(number)).upper()
    return value or None
