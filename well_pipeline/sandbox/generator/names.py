"""Country profiles and realistic company names.

Name matching is the hard half of counterparty scoring, so names must look like the ones a French SME's
inbox really sees: family names with accents ("Müller & Söhne GmbH", "Société Générale d'Électricité SA"),
trade + family ("Transports Dupont SARL"), invented brands ("Novatek Informatique SAS"), names made only of
generic words ("Services Généraux SARL", whose fuzzy score is high against many vendors), and a few names in
non-Latin scripts that come with the Latin alias under which they are usually known.

A name is returned as (core, suffix) so that variants.py can drop or rewrite the legal suffix the way OCR and
people do; the canonical name is `core + " " + suffix`.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass(frozen=True)
class CountryProfile:
    """Everything country-specific the generator needs: words, legal forms, addresses, tax and bank habits."""

    code: str
    name: str
    currency: str
    suffixes: tuple[tuple[str, int], ...]  # legal form, weight
    surnames: tuple[str, ...]
    trades: tuple[str, ...]  # "Transports", "Logistik": the activity word
    trade_first: bool  # "Transports Dupont" (FR) vs "Müller Logistik" (DE)
    connector: str  # "et", "und", "y" ... as in "Dupont et Martin"
    family: str  # "et Fils", "& Söhne" ...
    generic: tuple[str, ...]  # cores made only of generic words
    styled: tuple[str, ...]  # full cores in a local style ("Société Générale d'Électricité")
    cities: tuple[tuple[str, str], ...]  # postcode, city
    streets: tuple[str, ...]  # format strings with {n}
    tld: str
    billing_locals: tuple[str, ...]
    vat_rates: tuple[str, ...]  # first is the standard rate, as fraction strings
    invoice_formats: tuple[str, ...] = field(default=())


FR = CountryProfile(
    code="FR",
    name="France",
    currency="EUR",
    suffixes=(("SAS", 40), ("SARL", 30), ("SA", 10), ("EURL", 8), ("SASU", 8), ("SNC", 2)),
    surnames=(
        "Dupont", "Martin", "Lefèvre", "Girard", "Bérard", "Fontaine", "Chevalier", "Lemaître", "Gauthier",
        "Mercier", "Rousseau", "Lefebvre", "Moreau", "Laurent", "Garnier", "Faure", "Roussel", "Bonnet",
        "Lambert", "Duval", "Leclerc", "Perrin", "Clément", "Guérin", "Boucher", "Hébert", "Benoît", "Noël",
        "Lacroix", "Marchand", "Brunet", "Rivière", "Caron", "Joly", "Picard", "Aubert", "Renaud", "Besançon",
    ),
    trades=(
        "Transports", "Imprimerie", "Menuiserie", "Électricité", "Bâtiment", "Conseil", "Informatique",
        "Nettoyage", "Papeterie", "Logistique", "Traiteur", "Plomberie", "Carrosserie", "Maçonnerie",
        "Fournitures", "Déménagements", "Sécurité", "Chauffage", "Jardins", "Architecture",
    ),
    trade_first=True,
    connector="et",
    family="et Fils",
    generic=(
        "Services Généraux", "Solutions Informatiques", "Conseil et Services", "Transports Express",
        "Fournitures de Bureau", "Nettoyage Industriel", "Services Techniques", "Bureau Services",
        "Groupe Conseil", "Logistique Services",
    ),
    styled=(
        "Société Générale d'Électricité", "Compagnie Française de Transports", "Société Nouvelle d'Imprimerie",
        "Établissements Lefèvre", "Société Lyonnaise de Nettoyage", "Compagnie Parisienne de Chauffage",
        "Société Bordelaise d'Emballage", "Ateliers Réunis de Menuiserie", "Société Méditerranéenne de Froid",
        "Compagnie Générale d'Éclairage", "Société Normande de Sécurité", "Établissements Guérin Frères",
    ),
    cities=(
        ("75002", "Paris"), ("75011", "Paris"), ("69003", "Lyon"), ("13008", "Marseille"), ("31000", "Toulouse"),
        ("33000", "Bordeaux"), ("59000", "Lille"), ("44000", "Nantes"), ("67000", "Strasbourg"),
        ("06000", "Nice"), ("35000", "Rennes"), ("34000", "Montpellier"), ("92100", "Boulogne-Billancourt"),
        ("38000", "Grenoble"), ("21000", "Dijon"),
    ),
    streets=(
        "{n} rue de la République", "{n} avenue Jean Jaurès", "{n} boulevard Haussmann", "{n} rue Victor Hugo",
        "{n} place de l'Église", "{n} rue du Général de Gaulle", "{n} quai des Chartrons", "{n} chemin des Prés",
        "{n} rue de la Gare", "{n} impasse des Lilas",
    ),
    tld="fr",
    billing_locals=("billing", "billing", "factures", "facturation", "compta", "comptabilite"),
    vat_rates=("0.20", "0.10", "0.055", "0.021"),
    invoice_formats=("F{y}-{s:05d}", "FA{yy}{m:02d}-{s:04d}", "{y}/{s:04d}", "FAC-{y}{s:05d}", "F{s:06d}"),
)

DE = CountryProfile(
    code="DE",
    name="Deutschland",
    currency="EUR",
    suffixes=(("GmbH", 60), ("AG", 8), ("GmbH & Co. KG", 14), ("UG (haftungsbeschränkt)", 4), ("KG", 6),
              ("e.K.", 8)),
    surnames=(
        "Müller", "Schmidt", "Schneider", "Fischer", "Weiß", "Groß", "Köhler", "Schäfer", "Bäcker", "Krüger",
        "Hoffmann", "Schröder", "Wagner", "Becker", "Schulz", "Koch", "Richter", "Klein", "Wolf", "Neumann",
        "Schwarz", "Zimmermann", "Braun", "Hartmann", "Lange", "Schmitt", "Werner", "Krause", "Meier", "Lehmann",
        "Jäger", "Vogel", "Günther", "Böhm", "Fuchs", "Kühn", "Möller", "Löffler",
    ),
    trades=(
        "Bau", "Elektrotechnik", "Logistik", "Druckerei", "Maschinenbau", "Gebäudereinigung", "Software",
        "Beratung", "Spedition", "Metallbau", "Haustechnik", "Bürobedarf", "Messebau", "Sicherheitsdienst",
        "Verpackung", "Medientechnik", "Steuerberatung", "Gerüstbau",
    ),
    trade_first=False,
    connector="und",
    family="& Söhne",
    generic=(
        "Technische Dienstleistungen", "Allgemeine Gebäudedienste", "Bürotechnik Service", "Logistik Service",
        "IT Dienstleistungen", "Handel und Service",
    ),
    styled=(
        "Berliner Druckerei", "Münchner Messebau", "Hamburger Spedition", "Kölner Gebäudereinigung",
        "Gebrüder Köhler", "Frankfurter Bürotechnik", "Stuttgarter Maschinenbau", "Düsseldorfer Medientechnik",
        "Süddeutsche Verpackungswerke", "Norddeutsche Metallbau",
    ),
    cities=(
        ("10115", "Berlin"), ("80331", "München"), ("20095", "Hamburg"), ("50667", "Köln"),
        ("60311", "Frankfurt am Main"), ("70173", "Stuttgart"), ("40213", "Düsseldorf"), ("04109", "Leipzig"),
        ("90402", "Nürnberg"), ("28195", "Bremen"),
    ),
    streets=(
        "Hauptstraße {n}", "Bahnhofstraße {n}", "Schillerstraße {n}", "Goethestraße {n}", "Gartenweg {n}",
        "Industriestraße {n}", "Am Mühlbach {n}", "Königsallee {n}",
    ),
    tld="de",
    billing_locals=("billing", "billing", "rechnung", "rechnungen", "buchhaltung"),
    vat_rates=("0.19", "0.07"),
    invoice_formats=("RE-{y}-{s:04d}", "R{y}{s:05d}", "{y}-{s:05d}", "RG{s:06d}"),
)

ES = CountryProfile(
    code="ES",
    name="España",
    currency="EUR",
    suffixes=(("S.L.", 60), ("S.A.", 20), ("S.L.U.", 15), ("S.Coop.", 5)),
    surnames=(
        "García", "Martínez", "López", "Sánchez", "Pérez", "Gómez", "Fernández", "Muñoz", "Jiménez", "Ruiz",
        "Hernández", "Díaz", "Moreno", "Álvarez", "Romero", "Navarro", "Domínguez", "Gutiérrez", "Ibáñez",
        "Castaño", "Peña", "Núñez",
    ),
    trades=(
        "Construcciones", "Transportes", "Distribuciones", "Suministros", "Consultoría", "Imprenta", "Limpiezas",
        "Informática", "Instalaciones", "Reformas", "Asesoría", "Montajes",
    ),
    trade_first=True,
    connector="y",
    family="Hermanos",
    generic=("Servicios Generales", "Soluciones Informáticas", "Distribuciones Comerciales", "Servicios Técnicos"),
    styled=(
        "Compañía Española de Suministros", "Talleres Hermanos Peña", "Industrias Castaño",
        "Distribuciones del Mediterráneo", "Construcciones y Reformas del Norte",
    ),
    cities=(
        ("28013", "Madrid"), ("08002", "Barcelona"), ("46002", "Valencia"), ("41001", "Sevilla"),
        ("48001", "Bilbao"), ("29015", "Málaga"), ("50001", "Zaragoza"),
    ),
    streets=("Calle Mayor {n}", "Avenida de la Constitución {n}", "Calle de Alcalá {n}", "Paseo de Gracia {n}",
             "Calle San Vicente {n}"),
    tld="es",
    billing_locals=("billing", "facturacion", "facturas", "administracion"),
    vat_rates=("0.21", "0.10"),
    invoice_formats=("{y}/{s:04d}", "FV-{y}-{s:05d}", "A{s:06d}", "{s:05d}/{yy}"),
)

IT = CountryProfile(
    code="IT",
    name="Italia",
    currency="EUR",
    suffixes=(("S.r.l.", 55), ("S.p.A.", 20), ("S.n.c.", 10), ("S.a.s.", 10), ("S.r.l.s.", 5)),
    surnames=(
        "Rossi", "Russo", "Ferrari", "Esposito", "Bianchi", "Romano", "Colombo", "Ricci", "Marino", "Greco",
        "Bruno", "Gallo", "Conti", "De Luca", "Mancini", "Costa", "Giordano", "Rizzo", "Lombardi", "Moretti",
        "Barbieri", "Fontana", "Santoro", "D'Angelo",
    ),
    trades=(
        "Costruzioni", "Trasporti", "Forniture", "Consulenze", "Tipografia", "Servizi", "Impianti Elettrici",
        "Informatica", "Arredamenti", "Meccanica", "Imballaggi",
    ),
    trade_first=True,
    connector="e",
    family="e Figli",
    generic=("Servizi Generali", "Soluzioni Informatiche", "Forniture Ufficio", "Servizi Tecnici Integrati"),
    styled=(
        "Officine Meccaniche Lombarde", "Società Italiana Imballaggi", "Tipografia Città di Castello",
        "Arredamenti Moretti & C.", "Fratelli D'Angelo",
    ),
    cities=(
        ("20121", "Milano"), ("00184", "Roma"), ("10121", "Torino"), ("40121", "Bologna"), ("50123", "Firenze"),
        ("80133", "Napoli"), ("35122", "Padova"),
    ),
    streets=("Via Roma {n}", "Corso Italia {n}", "Via Garibaldi {n}", "Viale dell'Industria {n}",
             "Piazza Duomo {n}"),
    tld="it",
    billing_locals=("billing", "amministrazione", "fatture", "contabilita"),
    vat_rates=("0.22", "0.10"),
    invoice_formats=("{s}/{y}", "FT{y}/{s:04d}", "{s:04d}/PA", "{y}-FT-{s:05d}"),
)

NL = CountryProfile(
    code="NL",
    name="Nederland",
    currency="EUR",
    suffixes=(("B.V.", 75), ("N.V.", 8), ("V.O.F.", 12), ("BV", 5)),
    surnames=(
        "de Vries", "van Dijk", "Jansen", "de Jong", "Bakker", "Visser", "Smit", "Meijer", "de Boer", "Mulder",
        "van den Berg", "Dekker", "Vermeulen", "van Leeuwen", "Brouwer", "de Graaf", "van der Linden",
        "Kok", "Hendriks", "Verhoeven",
    ),
    trades=(
        "Installatietechniek", "Transport", "Bouw", "Schoonmaak", "Drukkerij", "Adviesgroep", "Logistiek",
        "ICT", "Verhuizingen", "Beveiliging", "Kantoorartikelen",
    ),
    trade_first=False,
    connector="en",
    family="& Zonen",
    generic=("Algemene Diensten", "Zakelijke Dienstverlening", "Technische Diensten", "Kantoor Service"),
    styled=("Hollandse Drukkerij", "Rotterdamse Havenlogistiek", "Gebroeders Bakker", "Koninklijke Verpakking"),
    cities=(("1012 AB", "Amsterdam"), ("3011 AD", "Rotterdam"), ("2511 CV", "Den Haag"), ("3511 LX", "Utrecht"),
            ("5611 AB", "Eindhoven")),
    streets=("Damrak {n}", "Keizersgracht {n}", "Stationsweg {n}", "Industrieweg {n}", "Kerkstraat {n}"),
    tld="nl",
    billing_locals=("billing", "facturen", "administratie", "crediteuren"),
    vat_rates=("0.21", "0.09"),
    invoice_formats=("{y}{s:05d}", "INV-{y}-{s:04d}", "F{s:06d}"),
)

BE = CountryProfile(
    code="BE",
    name="Belgique",
    currency="EUR",
    suffixes=(("SRL", 30), ("BV", 20), ("BVBA", 15), ("SA", 10), ("NV", 15), ("SPRL", 10)),
    surnames=(
        "Peeters", "Janssens", "Maes", "Jacobs", "Mertens", "Willems", "Claes", "Goossens", "Wouters", "Dubois",
        "Lambert", "Dupont", "Vandenberghe", "Desmet", "Lemaire", "Van Damme", "De Smedt", "Leroy",
    ),
    trades=("Transports", "Bouw", "Électricité", "Informatique", "Schoonmaak", "Imprimerie", "Logistics",
            "Consultancy"),
    trade_first=True,
    connector="&",
    family="& Fils",
    generic=("General Services", "Services Généraux", "Algemene Diensten", "Business Solutions"),
    styled=("Brasserie Artisanale Lemaire", "Imprimerie Bruxelloise", "Antwerpse Diamantlogistiek",
            "Société Liégeoise de Chauffage"),
    cities=(("1000", "Bruxelles"), ("2000", "Antwerpen"), ("9000", "Gent"), ("4000", "Liège"), ("5000", "Namur"),
            ("3000", "Leuven")),
    streets=("Rue Neuve {n}", "Meir {n}", "Avenue Louise {n}", "Korenmarkt {n}", "Chaussée de Wavre {n}"),
    tld="be",
    billing_locals=("billing", "facturation", "facturen", "comptabilite"),
    vat_rates=("0.21", "0.06"),
    invoice_formats=("{y}/{s:05d}", "F-{y}-{s:04d}", "{s:06d}"),
)

PT = CountryProfile(
    code="PT",
    name="Portugal",
    currency="EUR",
    suffixes=(("Lda", 55), ("Lda.", 15), ("S.A.", 15), ("Unipessoal Lda", 15)),
    surnames=(
        "Silva", "Santos", "Ferreira", "Pereira", "Oliveira", "Costa", "Rodrigues", "Martins", "Gonçalves",
        "Sousa", "Lopes", "Magalhães", "Fernandes", "Conceição", "Simões", "Antunes",
    ),
    trades=("Construções", "Transportes", "Serviços", "Informática", "Distribuição", "Gráfica", "Limpezas",
            "Consultoria"),
    trade_first=True,
    connector="e",
    family="& Filhos",
    generic=("Serviços Gerais", "Soluções Informáticas", "Comércio e Serviços"),
    styled=("Companhia Portuguesa de Embalagens", "Gráfica Lisbonense", "Irmãos Magalhães"),
    cities=(("1100-148", "Lisboa"), ("4000-322", "Porto"), ("3000-150", "Coimbra"), ("4700-435", "Braga"),
            ("8000-138", "Faro")),
    streets=("Rua Augusta {n}", "Avenida da Liberdade {n}", "Rua de Santa Catarina {n}", "Rua do Comércio {n}"),
    tld="pt",
    billing_locals=("billing", "faturacao", "contabilidade"),
    vat_rates=("0.23", "0.13", "0.06"),
    invoice_formats=("FT {y}/{s}", "FT A{y}/{s:04d}", "FR{y}-{s:05d}"),
)

IE = CountryProfile(
    code="IE",
    name="Ireland",
    currency="EUR",
    suffixes=(("Ltd", 60), ("Limited", 20), ("DAC", 8), ("Teoranta", 4), ("PLC", 8)),
    surnames=(
        "Murphy", "Kelly", "O'Sullivan", "Walsh", "O'Brien", "Byrne", "Ryan", "O'Connor", "O'Neill", "McCarthy",
        "Ó Briain", "Ó Súilleabháin", "Doyle", "Gallagher", "Kennedy", "Lynch", "Quinn", "Brennan",
    ),
    trades=("Engineering", "Logistics", "Print", "Consulting", "Cleaning Services", "Electrical", "Software",
            "Recruitment", "Facilities", "Catering"),
    trade_first=False,
    connector="and",
    family="& Sons",
    generic=("General Services", "Business Solutions", "Office Supplies", "Technical Services"),
    styled=("Dublin Print Works", "Cork Harbour Logistics", "Galway Bay Software", "Éire Facilities"),
    cities=(("D02 X285", "Dublin"), ("T12 R2NC", "Cork"), ("H91 E2K3", "Galway"), ("V94 T9PX", "Limerick")),
    streets=("{n} Grafton Street", "{n} O'Connell Street", "Unit {n}, Sandyford Business Park", "{n} Patrick Street"),
    tld="ie",
    billing_locals=("billing", "accounts", "finance"),
    vat_rates=("0.23", "0.135"),
    invoice_formats=("INV-{s:05d}", "INV{y}{s:04d}", "{s:06d}"),
)

GB = CountryProfile(
    code="GB",
    name="United Kingdom",
    currency="GBP",
    suffixes=(("Ltd", 65), ("Limited", 18), ("PLC", 7), ("LLP", 10)),
    surnames=(
        "Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Johnson", "Davies", "Robinson", "Wright",
        "Thompson", "Evans", "Walker", "White", "Roberts", "Green", "Hall", "Wood", "Jackson", "Clarke",
        "Patel", "Hughes", "Edwards", "Turner",
    ),
    trades=("Engineering", "Logistics", "Print", "Consulting", "Cleaning", "Electrical", "Software", "Marketing",
            "Design", "Recruitment", "Facilities", "Legal Services", "Catering", "Analytics"),
    trade_first=False,
    connector="and",
    family="& Sons",
    generic=("General Services", "Business Solutions", "Office Supplies", "Global Services", "General Trading",
             "Professional Services", "Technical Solutions"),
    styled=("British Office Supplies", "Thames Valley Logistics", "Northern Print Works", "Pennine Engineering",
            "London & Provincial Couriers", "Royal Borough Catering"),
    cities=(("EC1A 1BB", "London"), ("M1 1AE", "Manchester"), ("B1 1AA", "Birmingham"), ("LS1 4AP", "Leeds"),
            ("EH1 1YZ", "Edinburgh"), ("BS1 4DJ", "Bristol"), ("CB2 1TN", "Cambridge")),
    streets=("{n} High Street", "{n} Station Road", "{n} Church Lane", "Unit {n}, Riverside Business Park",
             "{n} King's Road"),
    tld="co.uk",
    billing_locals=("billing", "accounts", "invoices", "finance"),
    vat_rates=("0.20",),
    invoice_formats=("INV-{s:05d}", "INV{s:06d}", "SI-{s:05d}", "{s:05d}"),
)

US = CountryProfile(
    code="US",
    name="United States",
    currency="USD",
    suffixes=(("Inc.", 40), ("LLC", 35), ("Corp.", 15), ("Co.", 5), ("L.P.", 5)),
    surnames=(
        "Johnson", "Miller", "Davis", "Garcia", "Rodriguez", "Anderson", "Thomas", "Jackson", "White", "Harris",
        "Clark", "Lewis", "Walker", "Young", "Allen", "King", "Scott", "Nguyen", "Hill", "Adams", "Baker",
        "Nelson", "Carter", "Mitchell",
    ),
    trades=("Supply", "Solutions", "Systems", "Technologies", "Logistics", "Consulting Group", "Industries",
            "Software", "Analytics", "Manufacturing", "Distribution", "Networks", "Labs", "Partners", "Services",
            "Media", "Security", "Cloud"),
    trade_first=False,
    connector="and",
    family="& Sons",
    generic=("General Services", "Business Solutions", "Global Services", "Office Solutions", "Technical Services",
             "Professional Services", "Data Services"),
    styled=("American Office Supply", "Pacific Coast Logistics", "Great Lakes Manufacturing",
            "Atlantic Data Systems", "Rocky Mountain Software", "Lone Star Industries"),
    cities=(("94103", "San Francisco, CA"), ("10001", "New York, NY"), ("78701", "Austin, TX"),
            ("98101", "Seattle, WA"), ("60601", "Chicago, IL"), ("02110", "Boston, MA"), ("19801", "Wilmington, DE"),
            ("30303", "Atlanta, GA")),
    streets=("{n} Market Street", "{n} Main Street, Suite 400", "{n} Broadway", "{n} Congress Avenue",
             "{n} 5th Avenue, Floor 12", "{n} Orange Street"),
    tld="com",
    billing_locals=("billing", "billing", "ar", "accounts.receivable", "invoices"),
    vat_rates=("0.00",),
    invoice_formats=("INV-{s:05d}", "INV{s:06d}", "{s:06d}", "US-{y}-{s:05d}"),
)

# Luxembourg is never drawn for an ordinary vendor (it is not in COUNTRY_WEIGHTS): it exists for the EU hubs of
# large groups (Amazon EU SARL, Amazon Web Services EMEA SARL) that a French SME really buys from.
LU = CountryProfile(
    code="LU",
    name="Luxembourg",
    currency="EUR",
    suffixes=(("SARL", 45), ("S.A.", 35), ("S.à r.l.", 20)),
    surnames=("Schmit", "Muller", "Weber", "Wagner", "Hoffmann", "Thill", "Schroeder", "Reuter", "Kieffer",
              "Majerus"),
    trades=("Services", "Consulting", "Logistics", "Software", "Finance"),
    trade_first=False,
    connector="et",
    family="et Fils",
    generic=("Services Généraux", "Business Services"),
    styled=("Société Luxembourgeoise de Services",),
    cities=(("L-1855", "Luxembourg"), ("L-2453", "Luxembourg"), ("L-4360", "Esch-sur-Alzette")),
    streets=("{n} avenue John F. Kennedy", "{n} rue Eugène Ruppert", "{n} boulevard Royal"),
    tld="lu",
    billing_locals=("billing", "invoicing", "accounts"),
    vat_rates=("0.17", "0.08"),
    invoice_formats=("EU{y}{s:07d}", "INV-LU-{y}-{s:06d}", "{y}-{s:06d}"),
)

PROFILES: dict[str, CountryProfile] = {p.code: p for p in (FR, DE, ES, IT, NL, BE, PT, IE, GB, US, LU)}

# Share of vendors per country: about 70% EU (the Qonto customer is French) and 30% US/UK.
COUNTRY_WEIGHTS: tuple[tuple[str, float], ...] = (
    ("FR", 0.32), ("DE", 0.10), ("ES", 0.07), ("IT", 0.06), ("NL", 0.05), ("BE", 0.04), ("PT", 0.03), ("IE", 0.03),
    ("US", 0.20), ("GB", 0.10),
)
EU_COUNTRIES = frozenset({"FR", "DE", "ES", "IT", "NL", "BE", "PT", "IE", "GR", "BG", "LU"})

_BRAND_HEADS = (
    "Nova", "Axi", "Vel", "Heli", "Lumi", "Zeph", "Arca", "Kora", "Bel", "Mari", "Sola", "Terra", "Vita", "Quin",
    "Orbi", "Plati", "Cyber", "Luxa", "Neo", "Zeni", "Alti", "Bio", "Eco", "Geo", "Infra", "Inter", "Multi",
    "Omni", "Pro", "Tec", "Trans", "Uni", "Maxi", "Opti", "Astra", "Dyna", "Flexi", "Hydro", "Kine", "Medi",
)
_BRAND_TAILS = (
    "tek", "on", "ia", "is", "ex", "ix", "ora", "ium", "ant", "ent", "al", "ica", "ys", "ara", "eo", "ona", "us",
    "ware", "line", "net", "lab", "data", "log", "med", "pro", "sys", "via", "wave",
)
_US_BRANDS = (
    "Acme", "Apex", "Summit", "Pioneer", "Liberty", "Eagle", "Keystone", "Bluebird", "Redwood", "Granite",
    "Cascade", "Frontier", "Harbor", "Beacon", "Evergreen", "Ironclad", "Lakeside", "Northstar", "Patriot",
    "Silverline", "Sterling", "Trident", "Vanguard", "Westfield", "Copperleaf", "Bright Path", "Blue Ridge",
)


@dataclass(frozen=True)
class NonLatinName:
    """A name printed in its own script, with the Latin alias the vendor also uses (and Melio stores)."""

    country: str
    native: str
    alias_core: str
    alias_suffix: str


def _weighted(rng: random.Random, pairs: tuple[tuple[str, int], ...] | tuple[tuple[str, float], ...]) -> str:
    values = [p[0] for p in pairs]
    weights = [p[1] for p in pairs]
    return rng.choices(values, weights=weights)[0]


def pick_country(rng: random.Random) -> str:
    """Draw a vendor country with the 70% EU / 30% US-UK split."""
    return _weighted(rng, COUNTRY_WEIGHTS)


def pick_suffix(rng: random.Random, profile: CountryProfile) -> str:
    """Draw a legal form with the country's usual frequencies."""
    return _weighted(rng, profile.suffixes)


def brand(rng: random.Random) -> str:
    """An invented brand word ("Novatek", "Heliwave"), the commonest shape of modern company names."""
    return rng.choice(_BRAND_HEADS) + rng.choice(_BRAND_TAILS)


# Trade names behind several legal entities (issue 7): the same brand prints on invoices of different
# companies, each with its own bank account and VAT number. The famous groups are always present in
# non-trivial datasets; more are invented from a brand word plus the qualifiers real groups use.
FAMOUS_TRADE_NAMES: tuple[tuple[str, tuple[tuple[str, str, str], ...]], ...] = (
    ("Orange", (("FR", "Orange", "SA"), ("FR", "Orange Business Services", "SAS"))),
    ("Google", (("FR", "Google Cloud France", "SARL"), ("IE", "Google Ireland", "Limited"))),
    ("Amazon", (("LU", "Amazon EU", "SARL"), ("LU", "Amazon Web Services EMEA", "SARL"),
                ("LU", "Amazon Business EU", "SARL"))),
)
# Qualifier -> countries where an entity with that qualifier is registered.
_TRADE_QUALIFIERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Business Services", ("FR",)), ("Cloud France", ("FR",)), ("France", ("FR",)),
    ("Europe", ("IE", "NL", "LU")), ("Solutions", ("FR", "DE", "NL")), ("International", ("GB", "IE")),
    ("Services", ("FR", "BE")), ("Digital", ("FR", "ES", "IT")),
)


def trade_name_entities(rng: random.Random, brand_word: str) -> tuple[tuple[str, str, str], ...]:
    """2-3 legal entities (country, core, suffix) sharing the trade name `brand_word`.

    Qualifiers are distinct within a group, so the entities' legal names differ; about a third of groups
    have a parent that is just "Brand SA".
    """
    size = 2 if rng.random() < 0.6 else 3
    out: list[tuple[str, str, str]] = []
    for i, (qualifier, countries) in enumerate(rng.sample(_TRADE_QUALIFIERS, size)):
        if i == 0 and rng.random() < 0.33:
            out.append(("FR", brand_word, "SA"))
            continue
        country = rng.choice(countries)
        out.append((country, f"{brand_word} {qualifier}", pick_suffix(rng, PROFILES[country])))
    return tuple(out)


def company_core(rng: random.Random, profile: CountryProfile) -> str:
    """A company name without its legal suffix, in one of the shapes common in the country."""
    roll = rng.random()
    surname = rng.choice(profile.surnames)
    trade = rng.choice(profile.trades)
    if profile.code == "US" and roll < 0.30:
        return f"{rng.choice(_US_BRANDS)} {trade}"
    if roll < 0.30:
        return f"{trade} {surname}" if profile.trade_first else f"{surname} {trade}"
    if roll < 0.42:
        other = rng.choice([s for s in profile.surnames if s != surname])
        connector = "&" if rng.random() < 0.5 else profile.connector
        return f"{surname} {connector} {other}"
    if roll < 0.50:
        return f"{surname} {profile.family}"
    if roll < 0.78:
        return f"{brand(rng)} {trade}" if rng.random() < 0.7 else brand(rng)
    if roll < 0.88:
        return rng.choice(profile.styled)
    # Trade + city: "Imprimerie Lyon", "Cork Logistics".
    city = rng.choice(profile.cities)[1].split(",")[0]
    return f"{trade} {city}" if profile.trade_first else f"{city} {trade}"


def generic_core(rng: random.Random, profile: CountryProfile) -> str:
    """A core made only of generic words: scores high against many unrelated vendors."""
    return rng.choice(profile.generic)


# Non-Latin names are built from parallel word lists so each native word has a fixed Latin spelling.
_GREEK_A = (("Αθηναϊκή", "Athinaiki"), ("Ελληνική", "Elliniki"), ("Μακεδονική", "Makedoniki"), ("Κρητική", "Kritiki"))
_GREEK_B = (("Τεχνική", "Techniki"), ("Εμπορική", "Emporiki"), ("Ναυτιλιακή", "Naftiliaki"),
            ("Κατασκευαστική", "Kataskevastiki"))
_GREEK_FORMS = (("Α.Ε.", "S.A."), ("Ε.Π.Ε.", "EPE"))
_CYR_A = (("Балкан", "Balkan"), ("София", "Sofia"), ("Родопи", "Rodopi"), ("Дунав", "Dunav"))
_CYR_B = (("Логистик", "Logistik"), ("Софтуер", "Softuer"), ("Трейд", "Trade"), ("Строй", "Stroy"))
_CYR_FORMS = (("ООД", "OOD"), ("ЕООД", "EOOD"), ("АД", "AD"))
_JP_A = (("山田", "Yamada"), ("田中", "Tanaka"), ("佐藤", "Sato"), ("鈴木", "Suzuki"), ("高橋", "Takahashi"))
_JP_B = (("製作所", "Seisakusho"), ("商事", "Shoji"), ("印刷", "Insatsu"), ("電機", "Denki"))


def non_latin_name(rng: random.Random, script: str) -> NonLatinName:
    """A Greek, Cyrillic (Bulgarian) or Japanese company name plus its Latin alias."""
    if script == "greek":
        (a, la), (b, lb), (form, lform) = rng.choice(_GREEK_A), rng.choice(_GREEK_B), rng.choice(_GREEK_FORMS)
        return NonLatinName("GR", f"{a} {b} {form}", f"{la} {lb}", lform)
    if script == "cyrillic":
        (a, la), (b, lb), (form, lform) = rng.choice(_CYR_A), rng.choice(_CYR_B), rng.choice(_CYR_FORMS)
        return NonLatinName("BG", f"{a} {b} {form}", f"{la} {lb}", lform)
    if script == "japanese":
        (a, la), (b, lb) = rng.choice(_JP_A), rng.choice(_JP_B)
        if rng.random() < 0.5:
            return NonLatinName("JP", f"株式会社{a}{b}", f"{la} {lb}", "Co., Ltd.")
        return NonLatinName("JP", f"{a}{b}株式会社", f"{la} {lb}", "K.K.")
    raise ValueError(script)


# Addresses of the non-Latin vendors, already in Latin script (documents print in WinAnsi).
NON_LATIN_PLACES: dict[str, tuple[str, str, str]] = {
    "GR": ("Odos Ermou {n}", "105 63 Athina", "Greece"),
    "BG": ("ul. Vitosha {n}", "1000 Sofia", "Bulgaria"),
    "JP": ("1-{n}-3 Marunouchi, Chiyoda-ku", "Tokyo 100-0005", "Japan"),
}

# A French Qonto customer: the organisation whose supplier invoices we generate.
ORG_NAMES = (
    "Maison Lumière", "Atelier Céleste", "Brasserie du Canal", "Éditions Papillon", "Studio Horizon",
    "Verger & Co", "Librairie des Quais", "Fromagerie Belle Étoile",
)
ORG_FORMS = ("SAS", "SARL", "SAS")
