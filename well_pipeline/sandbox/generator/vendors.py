"""The vendor population: who sends invoices, and what the Melio directory knows about them.

A vendor holds the truth (canonical name, IBAN, VAT, e-mail) plus the Melio view of it, which is deliberately
imperfect: ~10% of vendors are missing from Melio ("unknown vendor"), some directory entries lack the e-mail,
IBAN or VAT, and a few are stored under a slightly different spelling. The population also contains the
hard cases a matcher gets wrong in production: near-duplicate names ("Acme SAS" / "ACME Solutions SAS"),
true homonyms (two unrelated "Martin SARL"), names made only of generic words, non-Latin-script names
with a Latin alias, trade names behind several legal entities ("Orange" = Orange SA and Orange Business
Services SAS), and suppliers unknown to Melio that bear the exact name of a directory entry holding no IBAN
or VAT to tell them apart ("Aubry" vs the directory's "Aubry SARL").

Each vendor also gets Qonto's own supplier id (`supplier_id` on records): one per vendor, never shared, and a
second one for ~3% of vendors, as when Qonto created the same supplier twice.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from decimal import Decimal

from . import identifiers as ids
from .names import (
    EU_COUNTRIES,
    FAMOUS_TRADE_NAMES,
    NON_LATIN_PLACES,
    PROFILES,
    CountryProfile,
    brand,
    company_core,
    generic_core,
    non_latin_name,
    pick_country,
    pick_suffix,
    trade_name_entities,
)
from .translit import is_winansi, slug, strip_accents

_CREDIT_FORMATS = {
    "FR": "AV-{y}-{s:04d}", "DE": "GS-{y}-{s:04d}", "ES": "R{y}/{s:04d}", "IT": "NC{y}/{s:03d}",
    "PT": "NC {y}/{s}", "NL": "CR{y}{s:04d}", "BE": "NC-{y}-{s:04d}",
}
_RECURRING = tuple(Decimal(v) for v in ("19.00", "29.00", "49.00", "99.00", "149.00", "199.00", "490.00", "1200.00"))
_FILE_PREFIX = {"FR": "Facture", "DE": "Rechnung", "ES": "Factura", "IT": "Fattura", "NL": "Factuur",
                "PT": "Fatura", "BE": "Facture"}
_OTHER_FORMATS = ("INV-{s:05d}", "{s:06d}")


@dataclass(slots=True)
class Vendor:
    """One supplier. Identity fields are fixed; the two counters advance as invoices are issued."""

    index: int
    vendor_id: str
    country: str
    kind: str  # regular | generic | near_duplicate | homonym | non_latin | trade_name | unknown_homonym
    core: str  # Latin core (the alias core for non-Latin vendors): what variants are built from
    suffix: str
    canonical_name: str  # legal name in the vendor's own script
    latin_alias: str  # "" unless the canonical name is not in Latin script
    printed_name: str  # what the vendor's documents print (WinAnsi-safe)
    related_vendor_id: str  # the other half of a pair, another member of a trade-name group, else ""
    iban: str | None
    bic: str | None
    vat_number: str | None
    tin: str | None
    email: str
    currency: str
    street: str
    city_line: str
    country_name: str
    charges_vat: bool
    vat_rates: tuple[str, ...]
    invoice_format: str
    credit_format: str
    file_prefix: str
    terms_days: int
    amount_mu: float
    recurring_amount: Decimal | None
    popularity: float
    in_melio: bool = True
    melio_name: str = ""
    melio_email: str = ""
    melio_iban: str = ""
    melio_vat: str = ""
    first_seq: int = 1
    next_seq: int = 1
    next_credit_seq: int = 1
    old_bills: int = 0
    trade_name: str = ""  # the brand printed alone on invoices of a trade-name group's entities
    qonto_supplier_ids: tuple[str, ...] = ()  # Qonto's supplier record(s); a second one = duplicated in Qonto

    @property
    def match_name(self) -> str:
        """The Latin name used for matching (alias for non-Latin vendors)."""
        return self.latin_alias or self.canonical_name

    def format_number(self, fmt: str, year: int, month: int, seq: int) -> str:
        return fmt.format(y=year, yy=year % 100, m=month, s=seq)

    def issue_number(self, year: int, month: int) -> str:
        """Next invoice number in this vendor's own sequence (numbers never repeat for a vendor)."""
        number = self.format_number(self.invoice_format, year, month, self.next_seq)
        self.next_seq += 1
        return number

    def issue_credit_number(self, year: int, month: int) -> str:
        number = self.format_number(self.credit_format, year, month, self.next_credit_seq)
        self.next_credit_seq += 1
        return number

    def old_number(self, year: int, month: int) -> str:
        """A number from before the generated window (counting down from first_seq), for Melio's old bills."""
        self.old_bills += 1
        return self.format_number(self.invoice_format, year, month, max(1, self.first_seq - self.old_bills))


def _city_line(profile: CountryProfile, postcode: str, city: str) -> str:
    if profile.code == "US":
        return f"{city} {postcode}"
    if profile.code in ("GB", "IE"):
        return f"{city} {postcode}"
    return f"{postcode} {city}"


class _NameRegistry:
    """Keeps canonical names unique (case-insensitively) except where a duplicate is the point."""

    def __init__(self) -> None:
        self.names: set[str] = set()
        self.domains: set[str] = set()
        self.reserved_cores: set[str] = set()  # trade names: no unrelated vendor is called just "Brand X"

    def free(self, name: str, core: str = "") -> bool:
        return name.casefold() not in self.names and core.casefold() not in self.reserved_cores

    def take(self, name: str) -> None:
        self.names.add(name.casefold())

    def domain(self, rng: random.Random, core: str, tld: str) -> str:
        base = slug(core)[:40] or "vendor"
        candidate = f"{base}.{tld}"
        while candidate in self.domains:
            candidate = f"{base}{rng.randint(2, 999)}.{tld}"
        self.domains.add(candidate)
        return candidate


def _new_vendor(
    rng: random.Random,
    index: int,
    registry: _NameRegistry,
    *,
    kind: str = "regular",
    country: str | None = None,
    core: str | None = None,
    suffix: str | None = None,
    script: str | None = None,
) -> Vendor:
    native = alias = ""
    if script:
        nl = None
        for _ in range(30):
            nl = non_latin_name(rng, script)
            if registry.free(nl.native):
                break
        assert nl is not None
        country, native, core, suffix = nl.country, nl.native, nl.alias_core, nl.alias_suffix
        alias = f"{core} {suffix}"
    country = country or pick_country(rng)
    profile = PROFILES.get(country, PROFILES["GB"])
    if core is None:
        for attempt in range(40):
            core = generic_core(rng, profile) if kind == "generic" else company_core(rng, profile)
            suffix = suffix_try = pick_suffix(rng, profile)
            if registry.free(f"{core} {suffix_try}", core):
                break
            if attempt >= 20:  # dense country: disambiguate with the city, as real companies do
                city = rng.choice(profile.cities)[1].split(",")[0]
                core = f"{core} {city}"
                if registry.free(f"{core} {suffix_try}", core):
                    break
    suffix = suffix if suffix is not None else pick_suffix(rng, profile)
    assert core is not None
    canonical = native or f"{core} {suffix}".strip()  # suffix "" = no legal form (a sole trader)
    registry.take(canonical)

    if country in NON_LATIN_PLACES:
        street_fmt, city_line, country_name = NON_LATIN_PLACES[country]
        street = street_fmt.format(n=rng.randint(1, 90))
    else:
        postcode, city = rng.choice(profile.cities)
        for candidate in profile.cities:  # "Cork Logistics" is in Cork, "Imprimerie Lyon" in Lyon
            if candidate[1].split(",")[0] in core:
                postcode, city = candidate
                break
        street = rng.choice(profile.streets).format(n=rng.randint(1, 180))
        city_line = _city_line(profile, postcode, city)
        country_name = profile.name

    # Bank details: EU and UK vendors almost always print an IBAN; US vendors mostly pay-in via ACH/wire,
    # and the quarter that print an IBAN use a European account (Wise-style BE/GB/IE/LT).
    iban: str | None
    if country == "JP":
        iban = None
    elif country == "US":
        iban = ids.make_iban(rng, rng.choice(("GB", "IE", "BE", "LT"))) if rng.random() < 0.25 else None
    elif country == "GB":
        iban = ids.make_iban(rng, "GB") if rng.random() < 0.92 else None
    else:
        iban = ids.make_iban(rng, country) if rng.random() < 0.97 else None
    bic = ids.make_bic(iban[:2], rng) if iban else None

    vat: str | None = None
    tin: str | None = None
    if country in EU_COUNTRIES:
        vat = ids.make_vat(rng, country) if rng.random() < 0.93 else None
    elif country == "GB":
        vat = ids.make_vat(rng, "GB") if rng.random() < 0.85 else None
    elif country == "US":
        tin = ids.make_ein(rng)
        vat = ids.make_vat(rng, "US") if rng.random() < 0.10 else None
    elif country == "JP":
        tin = ids.make_jp_invoice_number(rng)

    if country == "US":
        currency = "USD" if rng.random() < 0.85 else "EUR"
    elif country == "GB":
        currency = "GBP" if rng.random() < 0.70 else "EUR"
    elif country == "JP":
        currency = "USD"
    else:
        currency = "EUR"

    domain_tld = {"GR": "gr", "BG": "bg", "JP": "co.jp"}.get(country, profile.tld)
    local = rng.choice(profile.billing_locals) if country in PROFILES else "billing"
    email = f"{local}@{registry.domain(rng, strip_accents(core), domain_tld)}"

    # French customer: domestic vendors charge French VAT; other EU vendors mostly reverse-charge, but a quarter
    # (hotels, events, local services) charge their own VAT. Non-EU vendors charge none.
    vat_rates = {"GR": ("0.24", "0.13"), "BG": ("0.20", "0.09")}.get(country, profile.vat_rates)
    if country == "FR":
        charges_vat = True
    elif country in EU_COUNTRIES:
        charges_vat = rng.random() < 0.25
    else:
        charges_vat = False

    formats = profile.invoice_formats if country in PROFILES else _OTHER_FORMATS
    first_seq = rng.randint(120, 9000)
    return Vendor(
        index=index,
        vendor_id="",
        country=country,
        kind=kind,
        core=core,
        suffix=suffix,
        canonical_name=canonical,
        latin_alias=alias,
        printed_name=canonical if is_winansi(canonical) else alias,
        related_vendor_id="",
        iban=iban,
        bic=bic,
        vat_number=vat,
        tin=tin,
        email=email,
        currency=currency,
        street=street,
        city_line=city_line,
        country_name=country_name,
        charges_vat=charges_vat,
        vat_rates=vat_rates,
        invoice_format=rng.choice(formats),
        credit_format=_CREDIT_FORMATS.get(country, "CN-{s:05d}"),
        file_prefix=_FILE_PREFIX.get(country, "Invoice"),
        terms_days=rng.choice((0, 15, 30, 30, 30, 30, 45, 45, 60)),
        amount_mu=rng.gauss(5.6, 1.1),
        recurring_amount=rng.choice(_RECURRING) if rng.random() < 0.25 else None,
        popularity=0.0,
        first_seq=first_seq,
        next_seq=first_seq,
        next_credit_seq=rng.randint(1, 400),
    )


def _sibling(rng: random.Random, base: Vendor, index: int, registry: _NameRegistry, kind: str) -> Vendor:
    """A different company whose name collides with `base`: same name (homonym) or base + one word."""
    if kind == "homonym":
        core, suffix = base.core, base.suffix
    else:
        extra = rng.choice(("Solutions", "Services", "Group", "International", "Conseil", "Technologies", "Partners"))
        style = rng.random()
        if style < 0.4:
            core = f"{base.core.upper()} {extra}"
        elif style < 0.7:
            core = f"{base.core} {extra}"
        else:
            core = f"{extra} {base.core}" if rng.random() < 0.5 else f"{base.core}-{extra}"
        suffix = base.suffix
        if not registry.free(f"{core} {suffix}"):
            core = f"{core} {rng.choice(('Europe', 'France', 'Nord', 'Sud', 'Est'))}"
    vendor = _new_vendor(rng, index, registry, kind=kind, country=base.country, core=core, suffix=suffix)
    return vendor


def _quota(count: int, rate: float, minimum: int, threshold: int) -> int:
    if count < threshold:
        return 0
    return max(minimum, round(count * rate))


# Trade-name groups: the famous ones from this many vendors on, invented ones at ~0.3% of vendors (groups).
FAMOUS_MIN_VENDORS = 300
_TRADE_GROUP_RATE = 0.003
# Trade-name entities are telecom/cloud/marketplace suppliers billing monthly: they rank among the top 20% by
# popularity, which gives them ~10-15% of a 300-vendor SME's invoices.
_POPULAR_SHARE = 0.20
_POPULAR_MIN = 60


def _trade_name_plan(rng: random.Random, count: int, registry: _NameRegistry) -> list[tuple[str, tuple]]:
    """(trade name, entities) for every trade-name group; reserves each trade name as a core."""
    groups: list[tuple[str, tuple]] = []
    if count >= FAMOUS_MIN_VENDORS:
        groups.extend(FAMOUS_TRADE_NAMES)
    for _ in range(_quota(count, _TRADE_GROUP_RATE, 1, 100)):
        word = brand(rng)
        for _attempt in range(50):
            if word.casefold() not in registry.reserved_cores:
                break
            word = brand(rng)
        else:
            continue  # brand words exhausted (never at realistic sizes): fewer invented groups
        groups.append((word, trade_name_entities(rng, word)))
    for trade, _entities in groups:
        registry.reserved_cores.add(trade.casefold())
    return groups


# How an unknown homonym's name relates to its directory namesake; the first three are used in this order so
# that even the smallest populations hold each, then they are drawn 60/20/20.
_HOMONYM_MODES = ("same", "no_form", "other_form")


def _homonym_mode(rng: random.Random, i: int) -> str:
    if i < len(_HOMONYM_MODES):
        return _HOMONYM_MODES[i]
    roll = rng.random()
    return "same" if roll < 0.6 else "no_form" if roll < 0.8 else "other_form"


def _unknown_homonym(rng: random.Random, base: Vendor, index: int, registry: _NameRegistry, mode: str) -> Vendor:
    """A supplier Melio does not know, named like the directory's `base`: the same name, the name without a
    legal form ("Aubry" vs "Aubry SARL": a sole trader) or with another legal form of the same country."""
    suffix = base.suffix
    if mode == "no_form":
        suffix = ""
    elif mode == "other_form":
        profile = PROFILES.get(base.country, PROFILES["GB"])
        others = [form for form, _weight in profile.suffixes if form != base.suffix]
        suffix = rng.choice(others) if others else ""
    return _new_vendor(rng, index, registry, kind="unknown_homonym", country=base.country, core=base.core,
                       suffix=suffix)


def build_vendors(rng: random.Random, count: int) -> list[Vendor]:
    """Create `count` vendors, assign ids V-000001..., decide the Melio directory view and popularity."""
    registry = _NameRegistry()
    n_non_latin = _quota(count, 0.003, 3, 30)
    n_homonym = _quota(count, 0.002, 1, 50)
    n_near = _quota(count, 0.008, 2, 20)
    n_generic = _quota(count, 0.01, 2, 20)
    n_unknown_homonym = _quota(count, 0.004, 3, 100)
    trade_groups = _trade_name_plan(rng, count, registry)
    n_trade = sum(len(entities) for _trade, entities in trade_groups)
    n_regular = max(0, count - n_non_latin - n_homonym - n_near - n_generic - n_unknown_homonym - n_trade)

    vendors: list[Vendor] = []
    pairs: list[tuple[Vendor, Vendor]] = []
    for trade, entities in trade_groups:
        members: list[Vendor] = []
        for country, core, suffix in entities:
            member = _new_vendor(rng, len(vendors), registry, kind="trade_name", country=country, core=core,
                                 suffix=suffix)
            member.trade_name = trade
            vendors.append(member)
            members.append(member)
        pairs.extend((members[0], other) for other in members[1:])
    if n_near:
        # The canonical example of a dangerous pair, always present in non-trivial datasets.
        acme = _new_vendor(rng, len(vendors), registry, country="FR", core="Acme", suffix="SAS")
        vendors.append(acme)
        n_regular -= 1
    for _ in range(max(0, n_regular)):
        vendors.append(_new_vendor(rng, len(vendors), registry))
    for _ in range(n_generic):
        vendors.append(_new_vendor(rng, len(vendors), registry, kind="generic"))
    scripts = ("greek", "cyrillic", "japanese")
    for i in range(n_non_latin):
        vendors.append(_new_vendor(rng, len(vendors), registry, kind="non_latin", script=scripts[i % 3]))
    bases = [v for v in vendors if v.kind == "regular"]
    for i in range(n_near):
        base = acme if i == 0 else rng.choice(bases)
        if i == 0:
            sibling = _new_vendor(rng, len(vendors), registry, kind="near_duplicate", country="FR",
                                  core="ACME Solutions", suffix="SAS")
        else:
            sibling = _sibling(rng, base, len(vendors), registry, "near_duplicate")
        vendors.append(sibling)
        pairs.append((base, sibling))
    for _ in range(n_homonym):
        base = rng.choice(bases)
        sibling = _sibling(rng, base, len(vendors), registry, "homonym")
        vendors.append(sibling)
        pairs.append((base, sibling))
    # Unknown homonyms take bases nobody else paired with, so each base's directory entry is a clean target.
    taken = {id(v) for pair in pairs for v in pair}
    free_bases = [v for v in bases if id(v) not in taken]
    homonym_bases: list[Vendor] = []
    for i in range(min(n_unknown_homonym, len(free_bases))):
        # Mostly French namesakes: the small local suppliers of a French SME are where homonyms bite.
        french = [j for j, v in enumerate(free_bases) if v.country == "FR"]
        pick = rng.choice(french) if french and rng.random() < 0.6 else rng.randrange(len(free_bases))
        base = free_bases.pop(pick)
        sibling = _unknown_homonym(rng, base, len(vendors), registry, _homonym_mode(rng, i))
        vendors.append(sibling)
        pairs.append((base, sibling))
        homonym_bases.append(base)
    vendors = vendors[:count]
    kept = {id(v) for v in vendors}
    pairs = [(a, b) for a, b in pairs if id(a) in kept and id(b) in kept]

    # Ids are assigned in a shuffled order so special vendors are not clustered at the end of the directory.
    order = list(range(len(vendors)))
    rng.shuffle(order)
    for new_index, old_index in enumerate(order):
        vendors[old_index].vendor_id = f"V-{new_index + 1:06d}"
    vendors.sort(key=lambda v: v.vendor_id)
    for i, vendor in enumerate(vendors):
        vendor.index = i
    for base, sibling in pairs:
        base.related_vendor_id = base.related_vendor_id or sibling.vendor_id
        sibling.related_vendor_id = base.vendor_id

    paired = {v.vendor_id for pair in pairs for v in pair}
    ranks = _popularity_ranks(rng, vendors)
    for vendor, rank in zip(vendors, ranks, strict=True):
        # Zipf-like popularity: a few vendors send most invoices (telecom, SaaS), most send a handful.
        vendor.popularity = 1.0 / math.pow(rank + 1, 0.85)
        _decide_melio_view(rng, vendor, vendor.vendor_id in paired)
        if vendor.kind == "unknown_homonym":
            vendor.in_melio = False
        if not vendor.in_melio:
            vendor.popularity *= 0.5  # one-off suppliers are the ones nobody added to Melio yet
    for base in homonym_bases:
        if id(base) in kept:  # the directory entry offers nothing but the name to tell the two apart
            base.melio_iban = base.melio_vat = ""
    _assign_supplier_ids(rng, vendors)
    return vendors


def _popularity_ranks(rng: random.Random, vendors: list[Vendor]) -> list[int]:
    """A random popularity rank per vendor, with trade-name entities moved into the top 20%."""
    ranks = list(range(len(vendors)))
    rng.shuffle(ranks)
    top = min(len(vendors), max(_POPULAR_MIN, int(len(vendors) * _POPULAR_SHARE)))
    holder = {rank: i for i, rank in enumerate(ranks)}
    for i, vendor in enumerate(vendors):
        if vendor.kind != "trade_name" or ranks[i] < top:
            continue
        for _ in range(20):
            j = holder[rng.randrange(top)]
            if vendors[j].kind != "trade_name":
                ranks[i], ranks[j] = ranks[j], ranks[i]
                holder[ranks[i]], holder[ranks[j]] = i, j
                break
    return ranks


def _assign_supplier_ids(rng: random.Random, vendors: list[Vendor]) -> None:
    """Qonto's supplier record per vendor: never shared; ~3% of vendors have a duplicate record in Qonto."""
    used: set[str] = set()
    for vendor in vendors:
        wanted = 2 if rng.random() < 0.03 else 1
        drawn: list[str] = []
        while len(drawn) < wanted:
            candidate = ids.uuid4_from(rng)
            if candidate not in used:
                used.add(candidate)
                drawn.append(candidate)
        vendor.qonto_supplier_ids = tuple(drawn)


def _decide_melio_view(rng: random.Random, vendor: Vendor, paired: bool) -> None:
    """What Melio's vendor directory holds for this vendor (people typed it; fields are often missing)."""
    vendor.in_melio = paired or rng.random() < 0.90
    name = vendor.match_name
    if not paired and rng.random() < 0.10:
        roll = rng.random()
        if roll < 0.4:
            name = vendor.core
        elif roll < 0.7:
            name = strip_accents(name)
        else:
            name = name.upper()
    vendor.melio_name = name
    vendor.melio_email = vendor.email if rng.random() < 0.85 else ""
    vendor.melio_iban = vendor.iban if vendor.iban and rng.random() < 0.80 else ""
    vendor.melio_vat = vendor.vat_number if vendor.vat_number and rng.random() < 0.70 else ""
