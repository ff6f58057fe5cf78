"""The collectivités of a generated dataset: communes, EPCI, syndicats, CCAS, départements and régions, with
plausible French names and valid SIRETs. Pure: no Flask, no database; the same seed gives the same list.

The names are invented (assembled from common toponymic parts), and so is the number of communes of each
département; what is real is the shape: 101 départements in 18 régions (``tracker.instruction.territories``),
SIRENs built the way INSEE builds those of local authorities (« 21 » and the commune's code for a commune),
and every SIRET passing the Luhn check the application enforces.
"""

from __future__ import annotations

import random
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass

from tracker.accounts.siret import luhn_is_valid, siret_error, with_luhn_key
from tracker.instruction.territories import REGION_OF_DEPARTEMENT, REGIONS, departements_of

# With their article, so that « de » contracts properly (« du Nord », « des Landes », « de l'Ain »).
DEPARTEMENT_NAMES: dict[str, str] = {
    "01": "l'Ain", "02": "l'Aisne", "03": "l'Allier", "04": "les Alpes-de-Haute-Provence",
    "05": "les Hautes-Alpes", "06": "les Alpes-Maritimes", "07": "l'Ardèche", "08": "les Ardennes",
    "09": "l'Ariège", "10": "l'Aube", "11": "l'Aude", "12": "l'Aveyron", "13": "les Bouches-du-Rhône",
    "14": "le Calvados", "15": "le Cantal", "16": "la Charente", "17": "la Charente-Maritime", "18": "le Cher",
    "19": "la Corrèze", "2A": "la Corse-du-Sud", "2B": "la Haute-Corse", "21": "la Côte-d'Or",
    "22": "les Côtes-d'Armor", "23": "la Creuse", "24": "la Dordogne", "25": "le Doubs", "26": "la Drôme",
    "27": "l'Eure", "28": "l'Eure-et-Loir", "29": "le Finistère", "30": "le Gard", "31": "la Haute-Garonne",
    "32": "le Gers", "33": "la Gironde", "34": "l'Hérault", "35": "l'Ille-et-Vilaine", "36": "l'Indre",
    "37": "l'Indre-et-Loire", "38": "l'Isère", "39": "le Jura", "40": "les Landes", "41": "le Loir-et-Cher",
    "42": "la Loire", "43": "la Haute-Loire", "44": "la Loire-Atlantique", "45": "le Loiret", "46": "le Lot",
    "47": "le Lot-et-Garonne", "48": "la Lozère", "49": "le Maine-et-Loire", "50": "la Manche", "51": "la Marne",
    "52": "la Haute-Marne", "53": "la Mayenne", "54": "la Meurthe-et-Moselle", "55": "la Meuse",
    "56": "le Morbihan", "57": "la Moselle", "58": "la Nièvre", "59": "le Nord", "60": "l'Oise", "61": "l'Orne",
    "62": "le Pas-de-Calais", "63": "le Puy-de-Dôme", "64": "les Pyrénées-Atlantiques",
    "65": "les Hautes-Pyrénées", "66": "les Pyrénées-Orientales", "67": "le Bas-Rhin", "68": "le Haut-Rhin",
    "69": "le Rhône", "70": "la Haute-Saône", "71": "la Saône-et-Loire", "72": "la Sarthe", "73": "la Savoie",
    "74": "la Haute-Savoie", "75": "Paris", "76": "la Seine-Maritime", "77": "la Seine-et-Marne",
    "78": "les Yvelines", "79": "les Deux-Sèvres", "80": "la Somme", "81": "le Tarn", "82": "le Tarn-et-Garonne",
    "83": "le Var", "84": "le Vaucluse", "85": "la Vendée", "86": "la Vienne", "87": "la Haute-Vienne",
    "88": "les Vosges", "89": "l'Yonne", "90": "le Territoire de Belfort", "91": "l'Essonne",
    "92": "les Hauts-de-Seine", "93": "la Seine-Saint-Denis", "94": "le Val-de-Marne", "95": "le Val-d'Oise",
    "971": "la Guadeloupe", "972": "la Martinique", "973": "la Guyane", "974": "La Réunion", "976": "Mayotte",
}  # fmt: skip
assert DEPARTEMENT_NAMES.keys() == REGION_OF_DEPARTEMENT.keys()

# Where each région council sits (the département of its chef-lieu).
REGION_SEAT: dict[str, str] = {
    "84": "69", "27": "21", "53": "35", "24": "45", "94": "2A", "44": "67", "32": "59", "11": "75", "28": "76",
    "75": "33", "76": "31", "52": "44", "93": "13", "01": "971", "02": "972", "03": "973", "04": "974", "06": "976",
}  # fmt: skip
REGION_COUNCIL_NAMES: dict[str, str] = {
    "94": "Collectivité de Corse",
    "02": "Collectivité territoriale de Martinique",
    "03": "Collectivité territoriale de Guyane",
    "06": "Département de Mayotte (conseil départemental et régional)",
}
# Real numbers of communes overseas (small enough that a random weight would misrepresent them), and
# Paris, a single commune.
FIXED_COMMUNES: dict[str, int] = {"75": 1, "971": 32, "972": 34, "973": 22, "974": 24, "976": 17}

SAINTS = (
    "Saint-Martin", "Saint-Jean", "Saint-Pierre", "Sainte-Marie", "Saint-Germain", "Saint-Laurent",
    "Saint-Michel", "Sainte-Croix", "Saint-Hilaire", "Saint-Georges", "Saint-Julien", "Saint-André",
    "Saint-Denis", "Saint-Étienne", "Saint-Aubin", "Saint-Vincent", "Saint-Sauveur", "Saint-Paul",
    "Sainte-Foy", "Saint-Maurice", "Saint-Cyr", "Saint-Médard", "Sainte-Colombe", "Saint-Romain",
)  # fmt: skip
ROOTS = (
    "Villeneuve", "Beaumont", "Châteauneuf", "Fontaine", "Bellevue", "Roche", "Mesnil", "Fontenay",
    "Neuville", "Champagne", "Montagne", "Plessis", "Aubigny", "Brienne", "Courcelles", "Marigny",
    "Savigny", "Sully", "Tournon", "Vernon", "Chambon", "Montreuil", "Lussac", "Marsac", "Cazaux",
    "Labarthe", "Lacanau", "Mérignac", "Bourgneuf", "Ambérieu", "Cérons", "Escoussans", "Orgnac", "Pujols",
    "Rions", "Sauveterre", "Blanquefort", "Hostens", "Ygos", "Arbanats", "Vayres", "Izon", "Libourne",
    "Carignan", "Monségur", "Langoiran", "Targon", "Cadillac", "Castelnau", "Montfort", "Belvès", "Domme",
    "Eymet", "Issigeac", "Lalinde", "Ribérac", "Nontron", "Thiviers", "Excideuil", "Hautefort",
)  # fmt: skip
ARTICLED = (
    "Le Bourg", "La Bastide", "Les Églisottes", "Le Teich", "La Brède", "Le Pian", "La Teste", "Les Artigues",
    "Le Barp", "La Réole", "Les Billaux", "Le Fieu", "La Lande", "Le Haillan", "La Sauve", "Le Taillan",
)  # fmt: skip
SUFFIXES = (
    "", "", "", "", "", "", "-sur-Loire", "-sur-Mer", "-en-Vexin", "-les-Bains", "-le-Château", "-la-Forêt",
    "-du-Bois", "-de-Guyenne", "-sur-Dronne", "-d'Armagnac", "-en-Bresse", "-aux-Bois", "-le-Vieux",
    "-la-Rivière", "-sur-Garonne", "-en-Médoc", "-de-Lisle", "-des-Vignes", "-sur-Dordogne", "-les-Landes",
)  # fmt: skip
PAYS = ("du Pays {}", "de {}", "des Coteaux {}", "du Val {}", "des Rives {}", "du Grand {}", "des Portes {}")
SYNDICATE_PURPOSES = (
    "Syndicat intercommunal des eaux",
    "Syndicat intercommunal d'assainissement",
    "SIVU scolaire",
    "SIVOM",
    "Syndicat mixte de collecte et de traitement des déchets",
    "Syndicat intercommunal d'électrification",
    "Syndicat mixte des transports",
    "Syndicat intercommunal de restauration collective",
    "Syndicat intercommunal à vocation scolaire",
    "Syndicat mixte du bassin versant",
)


class CollectiviteKind:
    COMMUNE = "commune"
    EPCI = "epci"
    SYNDICAT = "syndicat"
    CCAS = "ccas"
    DEPARTEMENT = "departement"
    REGION = "region"


@dataclass(frozen=True)
class Collectivite:
    kind: str
    name: str
    siret: str
    departement_code: str


@dataclass(frozen=True)
class TerritoryShape:
    """How many collectivités of each kind, over which départements (None: all of France)."""

    departements: tuple[str, ...] | None
    communes: int
    epci: int
    syndicats: int
    ccas: int

    @property
    def departement_codes(self) -> tuple[str, ...]:
        return self.departements or tuple(DEPARTEMENT_NAMES)

    @property
    def regions(self) -> tuple[str, ...]:
        """Régions whose council sits in one of the chosen départements."""
        codes = set(self.departement_codes)
        return tuple(region for region, seat in REGION_SEAT.items() if seat in codes)


def de(name: str) -> str:
    """French « de » before a name: « du Nord », « des Landes », « de l'Ain », « d'Izon », « de Paris »."""
    for article, contracted in (("le ", "du "), ("Le ", "du "), ("les ", "des "), ("Les ", "des ")):
        if name.startswith(article):
            return contracted + name[len(article) :]
    if name.startswith(("la ", "La ", "l'")):
        return "de " + name
    stripped = unicodedata.normalize("NFD", name[:1])[:1].lower()
    return ("d'" if stripped in "aeiouy" else "de ") + name


def _split(total: int, weights: dict[str, float]) -> dict[str, int]:
    """``total`` shared in proportion to ``weights``, largest remainders first: the sum is exact."""
    scale = total / sum(weights.values())
    shares = {key: weight * scale for key, weight in weights.items()}
    result = {key: int(share) for key, share in shares.items()}
    for key in sorted(shares, key=lambda k: shares[k] - result[k], reverse=True)[: total - sum(result.values())]:
        result[key] += 1
    return result


def communes_per_departement(shape: TerritoryShape, rng: random.Random) -> dict[str, int]:
    codes = shape.departement_codes
    if len(codes) == 1:
        return {codes[0]: shape.communes}
    fixed = {code: count for code, count in FIXED_COMMUNES.items() if code in codes}
    # Corsica's two départements share the « 20 » of their INSEE codes: at most 499 communes each.
    weights = {code: rng.uniform(0.3, 0.6) if code in ("2A", "2B") else rng.uniform(0.45, 2.2) for code in codes}
    shared = _split(shape.communes - sum(fixed.values()), {c: w for c, w in weights.items() if c not in fixed})
    return {**shared, **fixed}


def _siren(prefix8: str) -> str:
    """Nine digits: eight chosen, the last the Luhn key (SIRENs carry one, as SIRETs do)."""
    return next(prefix8 + key for key in "0123456789" if luhn_is_valid(prefix8 + key))


def _siret(siren: str, establishment: int) -> str:
    siret = with_luhn_key(f"{siren}{establishment:04d}")
    assert siret_error(siret) is None
    return siret


def _numeric(departement: str) -> str:
    """The two digits INSEE uses in the SIREN of a département's authorities (Corsica keeps its old 20)."""
    return "20" if departement in ("2A", "2B") else departement[:2]


def _commune_digits(departement: str, number: int) -> str:
    """The six digits after « 21 » in a commune's SIREN: the département, a zero, the commune's number
    (Bordeaux, 33063: 21 33 0 063 5)."""
    if len(departement) == 3:
        return f"{departement}0{number:02d}"
    if departement == "2B":
        number += 500
    return f"{_numeric(departement)}0{number:03d}"


def _town_name(rng: random.Random) -> str:
    draw = rng.random()
    if draw < 0.3:
        base = rng.choice(SAINTS)
    elif draw < 0.4:
        base = rng.choice(ARTICLED)
    else:
        base = rng.choice(ROOTS)
    if rng.random() < 0.25:
        # « Saint-Martin-de-Marsac », « Saint-Jean-d'Izon »
        return f"{base}-{de(rng.choice(ROOTS)).replace(' ', '-')}"
    return base + rng.choice(SUFFIXES)


def _unique_towns(rng: random.Random, count: int) -> list[str]:
    names: list[str] = []
    seen: set[str] = set()
    while len(names) < count:
        name = _town_name(rng)
        if name not in seen:
            seen.add(name)
            names.append(name)
    return names


def _commune_label(town: str) -> str:
    return f"Commune {de(town)}"


def generate(shape: TerritoryShape, rng: random.Random) -> Iterator[Collectivite]:
    """Every collectivité of the shape, département by département, then the régions' councils."""
    communes = communes_per_departement(shape, rng)
    total_communes = sum(communes.values())
    epci = _split(shape.epci, {code: max(count, 1) for code, count in communes.items()})
    syndicats = _split(shape.syndicats, {code: max(count, 1) for code, count in communes.items()})
    ccas = _split(shape.ccas, {code: max(count, 1) for code, count in communes.items()})
    assert total_communes == shape.communes
    # Intercommunal bodies are numbered nationally (their SIRENs do not encode the département).
    serials = {CollectiviteKind.EPCI: 0, CollectiviteKind.SYNDICAT: 0, CollectiviteKind.CCAS: 0}

    def serial_siret(kind: str, prefix: str) -> str:
        serials[kind] += 1
        return _siret(_siren(f"{prefix}{serials[kind]:06d}"), 1)

    for code in shape.departement_codes:
        towns = _unique_towns(rng, communes[code])
        for number, town in enumerate(towns, start=1):
            siren = _siren(f"21{_commune_digits(code, number)}")
            label = "Ville de Paris" if code == "75" else _commune_label(town)
            yield Collectivite(CollectiviteKind.COMMUNE, label, _siret(siren, 1), code)
        # Intercommunal bodies take their names from the département's towns.
        for _ in range(epci[code]):
            town = rng.choice(towns)
            draw = rng.random()
            if draw < 0.85:
                name = "Communauté de communes " + rng.choice(PAYS).format(town.split("-")[0])
            elif draw < 0.97:
                name = f"Communauté d'agglomération {de(town)}"
            else:
                name = f"Communauté urbaine {de(town)}"
            yield Collectivite(CollectiviteKind.EPCI, name, serial_siret(CollectiviteKind.EPCI, "24"), code)
        for _ in range(syndicats[code]):
            name = f"{rng.choice(SYNDICATE_PURPOSES)} {de(rng.choice(towns))}"
            yield Collectivite(CollectiviteKind.SYNDICAT, name, serial_siret(CollectiviteKind.SYNDICAT, "25"), code)
        for _ in range(ccas[code]):
            name = f"Centre communal d'action sociale {de(rng.choice(towns))}"
            yield Collectivite(CollectiviteKind.CCAS, name, serial_siret(CollectiviteKind.CCAS, "26"), code)
        # « 22 » + the département, as the councils' SIRENs read (Gironde: 223 300 019); 2B apart from 2A.
        council = f"22{_numeric(code)}{'0002' if code == '2B' else '0001'}" if len(code) == 2 else f"22{code}000"
        yield Collectivite(
            CollectiviteKind.DEPARTEMENT,
            f"Département {de(DEPARTEMENT_NAMES[code])}",
            _siret(_siren(council), 1),
            code,
        )
    for region in shape.regions:
        name = REGION_COUNCIL_NAMES.get(region, f"Région {REGIONS[region]}")
        yield Collectivite(CollectiviteKind.REGION, name, _siret(_siren(f"2300{region}00"), 1), REGION_SEAT[region])


def regions_of(departement_codes: tuple[str, ...]) -> set[str]:
    return {REGION_OF_DEPARTEMENT[code] for code in departement_codes}


def departements_in(region: str) -> tuple[str, ...]:
    return departements_of(region)
