"""« Mes notifications » (each user chooses what they receive) and the unsubscribe link of DGFiP emails."""

from __future__ import annotations

from flask import Blueprint, Response, flash, make_response, redirect, render_template, request, url_for
from flask_login import login_required

from tracker.accounts.models import User
from tracker.accounts.principal import current_principal
from tracker.db import db
from tracker.extensions import csrf
from tracker.notify.forms import chosen, preferences_form
from tracker.notify.kinds import PARTIES, grouped, kinds_received_by
from tracker.notify.queries import actors_of, received_kinds
from tracker.notify.services import choose_notifications, turn_off
from tracker.notify.unsubscribe import InvalidUnsubscribeToken, read_unsubscribe_token

blueprint = Blueprint("notify", __name__)


@blueprint.route("/compte/notifications", methods=["GET", "POST"])
@login_required
def preferences() -> Response | tuple[str, int]:
    principal = current_principal()
    user = principal.user
    actors = actors_of(db.session, user.id)
    kinds = kinds_received_by(actors)
    form = preferences_form(
        kinds,
        received_kinds(db.session, user.id),
        is_party=bool(actors & PARTIES),
        formdata=request.form if request.method == "POST" else None,
    )
    if form.validate_on_submit():
        choose_notifications(
            db.session, user, chosen(form, kinds), organization_id=principal.organization.id, via="preferences"
        )
        db.session.commit()
        flash("Vos choix de notifications sont enregistrés.", "success")
        return redirect(url_for("notify.preferences"))
    status = 422 if form.errors else 200
    return render_template("notify/preferences.html", form=form, groups=grouped(kinds)), status


def _private(body: str, status: int = 200) -> Response:
    """The token in the URL is a credential for this user's choices: no cache may keep the page."""
    response = make_response(body, status)
    response.headers["Cache-Control"] = "no-store"
    return response


# Exempt from the CSRF check, for this route only: RFC 8058 mail clients (« Se désabonner » in Gmail,
# Outlook…) POST ``List-Unsubscribe=One-Click`` to this URL straight from the mailbox, with no page and so
# no CSRF token. What CSRF protection would prove, that the POST comes from someone who was shown the
# page, the signed token proves instead: it names one user and one kind, only that user's email holds it,
# and all it can do is turn that one notification off (undone from « Mes notifications »). A plain GET,
# which link scanners and previews make, changes nothing: it shows the confirmation button.
@blueprint.route("/notifications/desinscription/<token>", methods=["GET", "POST"])
@csrf.exempt
def unsubscribe(token: str) -> Response:
    try:
        unsubscription = read_unsubscribe_token(token)
    except InvalidUnsubscribeToken:
        return _private(render_template("notify/unsubscribe_invalid.html"), 400)
    user = db.session.get(User, unsubscription.user_id)
    if user is None:  # the account was deleted since the email left
        return _private(render_template("notify/unsubscribe_invalid.html"), 400)
    kind = unsubscription.kind
    if request.method == "POST":
        one_click = request.form.get("List-Unsubscribe") == "One-Click"
        turn_off(db.session, user, kind, via="one_click" if one_click else "unsubscribe_link")
        db.session.commit()
        return _private(render_template("notify/unsubscribed.html", kind=kind, user=user))
    is_received = received_kinds(db.session, user.id)[kind]
    return _private(render_template("notify/unsubscribe.html", kind=kind, user=user, is_received=is_received))
