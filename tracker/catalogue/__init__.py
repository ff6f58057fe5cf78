"""What an API habilitation asks for, as data and pure functions (no Flask, no database)."""

from tracker.catalogue.impot_particulier import CATALOGUE, IMPOT_PARTICULIER

__all__ = ["CATALOGUE", "IMPOT_PARTICULIER"]
