"""The « Mes notifications » form: one checkbox per notification the user may receive."""

from __future__ import annotations

from collections.abc import Mapping

from flask_wtf import FlaskForm
from werkzeug.datastructures import MultiDict
from wtforms import BooleanField

from tracker.notify.kinds import NotificationKind

# For the kinds that must reach each organization (decisions, acknowledgement, expiry): see notify.kinds.
STILL_REACHES_THE_ORGANIZATION = (
    "Si tous les membres de votre organisation la désactivent, elle leur reste envoyée : l'organisation doit "
    "toujours en être informée."
)


class PreferencesForm(FlaskForm):
    """Fields are added per user by ``preferences_form``, named after ``NotificationKind`` values."""


def preferences_form(
    kinds: list[NotificationKind],
    received: Mapping[NotificationKind, bool],
    *,
    is_party: bool,
    formdata: MultiDict[str, str] | None,
) -> PreferencesForm:
    """``formdata`` is passed explicitly: with every box unticked (and CSRF off, as in tests) a POST has
    an empty body, which Flask-WTF would otherwise read as « not submitted » and show the old choices."""

    class UserPreferencesForm(PreferencesForm):
        pass

    for kind in kinds:
        description = kind.description
        if is_party and kind.must_reach_each_organization:
            description = f"{description} {STILL_REACHES_THE_ORGANIZATION}"
        setattr(UserPreferencesForm, kind.value, BooleanField(kind.label, description=description))
    return UserPreferencesForm(formdata=formdata, data={kind.value: received[kind] for kind in kinds})


def chosen(form: PreferencesForm, kinds: list[NotificationKind]) -> dict[NotificationKind, bool]:
    return {kind: bool(form[kind.value].data) for kind in kinds}
