"""The data items (scopes) of the API Impôt particulier, their rules and the minimisation advisor
(DOMAIN §6-7). Pure data and functions: the form, the PDF and the API share them.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import date


@dataclass(frozen=True)
class ScopeGroup:
    key: str
    label: str


@dataclass(frozen=True)
class Scope:
    key: str
    label: str
    group: ScopeGroup
    deprecated_on: date | None = None
    # Fields of the API response this scope opens (for the connector stand-in and for citizens).
    response_fields: tuple[str, ...] = ()

    def is_offered_to(self, created_on: date) -> bool:
        """A deprecated scope is not offered to a request created on or after its deprecation date."""
        return self.deprecated_on is None or created_on < self.deprecated_on


YEARS = ScopeGroup("annees", "Années sur lesquelles porte votre demande")
DECLARANT_1 = ScopeGroup("etat_civil_declarant_1", "État civil – déclarant 1")
DECLARANT_2 = ScopeGroup("etat_civil_declarant_2", "État civil – déclarant 2")
ADDRESS = ScopeGroup("adresse", "Adresse")
HOUSEHOLD = ScopeGroup("situation_foyer", "Situation du foyer fiscal")
AGGREGATES = ScopeGroup("agregats", "Agrégats fiscaux")
DECLARED_INCOME = ScopeGroup("revenus_declares", "Revenus catégoriels – déclarés")
NET_INCOME = ScopeGroup("revenus_nets", "Revenus catégoriels – nets")
DEDUCTIBLE = ScopeGroup("charges_deductibles", "Charges déductibles")
LEP_GROUP = ScopeGroup("lep", "Éligibilité LEP (établissements bancaires uniquement)")

DEPRECATED_2025 = date(2025, 5, 20)

N_MOINS_1 = "dgfip_annee_n_moins_1"
N_MOINS_2 = "dgfip_annee_n_moins_2"
N_MOINS_3 = "dgfip_annee_n_moins_3"
N_MOINS_2_SI_INDISPO = "dgfip_annee_n_moins_2_si_indispo_n_moins_1"
DECES_31_12 = "dgfip_annee_df_au_3112_si_deces_ctb_mp"
IFI = "dgfip_indiIFI"
LEP = "dgfip_IndLep"

_CATEGORIES = (
    ("Cat1_Tspr", "salaires, pensions, rentes"),
    ("Cat1_RentOn", "rentes viagères à titre onéreux"),
    ("Cat2_Rcm", "revenus de capitaux mobiliers"),
    ("Cat3_PMV", "plus ou moins-values"),
    ("Cat4_Ref", "revenus fonciers"),
    ("Cat5_NonSal", "revenus des professions non salariées"),
)


def _civil_status(group: ScopeGroup, number: int) -> tuple[Scope, ...]:
    items = (
        ("nmUsaDec", "Nom"),
        ("nmNaiDec", "Nom de naissance"),
        ("prnmDec", "Prénom(s)"),
        ("dateNaisDec", "Date de naissance"),
    )
    return tuple(
        Scope(f"dgfip_{field}{number}", label, group, response_fields=(f"{field}{number}",)) for field, label in items
    )


SCOPES: tuple[Scope, ...] = (
    Scope(N_MOINS_1, "Dernière année de revenu (N-1)", YEARS),
    Scope(N_MOINS_2, "Avant-dernière année de revenu (N-2)", YEARS),
    Scope(N_MOINS_3, "Avant-avant-dernière année de revenu (N-3)", YEARS),
    Scope(
        N_MOINS_2_SI_INDISPO, "Avant-dernière année de revenu, si la dernière année de revenu est indisponible", YEARS
    ),
    *_civil_status(DECLARANT_1, 1),
    *_civil_status(DECLARANT_2, 2),
    Scope("dgfip_aft", "Adresse déclarée au 1er janvier", ADDRESS, response_fields=("aft", "aftDetail")),
    Scope("dgfip_sitfam", "Situation de famille", HOUSEHOLD, response_fields=("sitFam",)),
    Scope("dgfip_nbpart", "Nombre de parts", HOUSEHOLD, response_fields=("nbPart",)),
    Scope("dgfip_pac_nbPac", "Nombre de personnes à charge", HOUSEHOLD, response_fields=("pac.nbPac",)),
    Scope("dgfip_pac", "Détail des personnes à charge et rattachées", HOUSEHOLD, response_fields=("pac",)),
    Scope("dgfip_pariso", "Parent isolé (case T)", HOUSEHOLD, response_fields=("sitParIso",)),
    Scope(DECES_31_12, "Données fiscales au 31/12 en cas de décès d'un contribuable marié ou pacsé", HOUSEHOLD),
    Scope("dgfip_rfr", "Revenu fiscal de référence", AGGREGATES, response_fields=("rfr",)),
    Scope(
        "dgfip_mntRevbareme",
        "Montant de l'impôt sur les revenus soumis au barème",
        AGGREGATES,
        response_fields=("mntRevbareme",),
    ),
    Scope("dgfip_inddeficit", "Indicateur de l'existence d'un déficit", AGGREGATES, response_fields=("indDeficit",)),
    Scope(IFI, "Indicateur ISF/IFI", AGGREGATES, response_fields=("indicateurIfiIsf",)),
    Scope("dgfip_rbg", "Revenu brut global", AGGREGATES, response_fields=("revenuBrutGlobal",)),
    *(
        Scope(f"dgfip_RevDecl_{code}", f"Revenus déclarés : {label}", DECLARED_INCOME, DEPRECATED_2025)
        for code, label in _CATEGORIES
    ),
    *(
        Scope(f"dgfip_RevNets_{code}", f"Revenus nets : {label}", NET_INCOME, DEPRECATED_2025)
        for code, label in _CATEGORIES
    ),
    Scope("dgfip_PaDeduc_EnfMaj", "Pensions alimentaires versées aux enfants majeurs", DEDUCTIBLE, DEPRECATED_2025),
    Scope("dgfip_PaDeduc_Autres", "Autres pensions alimentaires versées", DEDUCTIBLE, DEPRECATED_2025),
    Scope("dgfip_EpargRetrDeduc", "Épargne retraite déductible", DEDUCTIBLE, DEPRECATED_2025),
    Scope(LEP, "Indicateur d'éligibilité au LEP", LEP_GROUP),
)

SCOPES_BY_KEY = {scope.key: scope for scope in SCOPES}
YEAR_SCOPES = frozenset(s.key for s in SCOPES if s.group is YEARS)
assert len(SCOPES_BY_KEY) == len(SCOPES), "scope keys are unique"


def _quoted(keys: Collection[str]) -> str:
    ordered = [scope.label for scope in SCOPES if scope.key in keys]
    return ", ".join(f"« {label} »" for label in ordered)


def offered_scopes(created_on: date, chosen: Collection[str] = ()) -> tuple[Scope, ...]:
    """What the form shows: current scopes, plus deprecated ones still offered to this request's
    creation date or already chosen on it (kept visible, never silently dropped)."""
    return tuple(s for s in SCOPES if s.is_offered_to(created_on) or s.key in chosen)


def scope_errors(chosen: Collection[str], *, created_on: date) -> list[str]:
    """The rules of DOMAIN §6, in French, each saying what to untick; empty when the choice is valid."""
    chosen = set(chosen)
    if unknown := chosen - SCOPES_BY_KEY.keys():
        return [f"Donnée inconnue : {', '.join(sorted(unknown))}."]
    errors = []
    if not chosen:
        return ["Cochez au moins une donnée."]
    retired = {key for key in chosen if not SCOPES_BY_KEY[key].is_offered_to(created_on)}
    if retired:
        errors.append(f"Ces données ne sont plus proposées depuis le 20/05/2025 : décochez {_quoted(retired)}.")
    if LEP in chosen:
        if others := chosen - {LEP}:
            errors.append(
                "L'indicateur d'éligibilité au LEP doit être la seule donnée demandée : "
                f"décochez {_quoted(others)}, ou décochez l'indicateur LEP."
            )
        return errors
    if not chosen & YEAR_SCOPES:
        errors.append(f"Cochez au moins une année de revenu parmi {_quoted(YEAR_SCOPES)}.")
    if N_MOINS_2_SI_INDISPO in chosen and (years := chosen & {N_MOINS_1, N_MOINS_2, N_MOINS_3}):
        errors.append(
            f"{_quoted({N_MOINS_2_SI_INDISPO})} ne se combine pas avec une année précise : "
            f"décochez {_quoted(years)}, ou décochez {_quoted({N_MOINS_2_SI_INDISPO})}."
        )
    first, second = chosen & {N_MOINS_2_SI_INDISPO, DECES_31_12}, chosen & {IFI, LEP}
    if first and second:
        errors.append(
            f"{_quoted(first)} et {_quoted(second)} sont incompatibles : décochez l'une ou l'autre de ces données."
        )
    return errors


@dataclass(frozen=True)
class Recommendation:
    """What a use case needs (DOMAIN §7): any one of ``years``, all of ``scopes``, maybe ``optional``."""

    years: frozenset[str]
    scopes: frozenset[str]
    optional: frozenset[str] = frozenset()

    @property
    def accepted(self) -> frozenset[str]:
        return self.years | self.scopes | self.optional


_QUOTIENT_FAMILIAL = Recommendation(
    years=frozenset({N_MOINS_1, N_MOINS_2_SI_INDISPO}),
    scopes=frozenset({"dgfip_rfr", "dgfip_nbpart"}),
    optional=frozenset({"dgfip_pac_nbPac", "dgfip_sitfam"}),
)

RECOMMENDATIONS: dict[str, Recommendation] = {
    "cantine_scolaire": _QUOTIENT_FAMILIAL,
    "activites_periscolaires": _QUOTIENT_FAMILIAL,
    "place_creche": _QUOTIENT_FAMILIAL,
    "carte_transport": _QUOTIENT_FAMILIAL,
    "stationnement_residentiel": Recommendation(
        years=frozenset({N_MOINS_1}),
        scopes=frozenset({"dgfip_aft"}),
        optional=frozenset({"dgfip_nmUsaDec1", "dgfip_prnmDec1"}),
    ),
    "aides_sociales_facultatives": Recommendation(
        years=frozenset({N_MOINS_1, N_MOINS_2_SI_INDISPO}),
        scopes=frozenset({"dgfip_rfr", "dgfip_nbpart", "dgfip_sitfam", "dgfip_pac_nbPac"}),
        optional=frozenset({"dgfip_pariso", IFI}),
    ),
}


def beyond_recommendation(use_case: str | None, chosen: Collection[str]) -> tuple[Scope, ...]:
    """The chosen scopes the use case does not need: each gets a warning and a justification field,
    never a refusal (the advisor recommends; DGFiP decides). Free-form projects get no advice."""
    recommendation = RECOMMENDATIONS.get(use_case or "")
    if recommendation is None:
        return ()
    return tuple(s for s in SCOPES if s.key in chosen and s.key not in recommendation.accepted)


@dataclass(frozen=True)
class ScopeBoard:
    """What the scopes page shows: the offered items by group, the use case's advice, and the chosen
    items beyond it (each needing a justification)."""

    groups: tuple[tuple[ScopeGroup, tuple[Scope, ...]], ...]
    recommendation: Recommendation | None
    flagged: tuple[Scope, ...]

    def is_recommended(self, scope: Scope) -> bool:
        return self.recommendation is None or scope.key in self.recommendation.accepted


def scope_board(created_on: date, use_case: str | None, chosen: Collection[str]) -> ScopeBoard:
    offered = offered_scopes(created_on, chosen)
    groups: dict[ScopeGroup, list[Scope]] = {}
    for scope in offered:
        groups.setdefault(scope.group, []).append(scope)
    return ScopeBoard(
        groups=tuple((group, tuple(items)) for group, items in groups.items()),
        recommendation=RECOMMENDATIONS.get(use_case or ""),
        flagged=beyond_recommendation(use_case, chosen),
    )


def labels_of(keys: Collection[str]) -> list[str]:
    """Labels in catalogue order, for pages and changelogs."""
    return [scope.label for scope in SCOPES if scope.key in keys]
