"""« Mes logiciels »: an éditeur declares its products and follows their sandbox habilitations."""

from __future__ import annotations

from flask import Blueprint, Response, abort, flash, redirect, render_template, url_for
from flask_login import login_required

from tracker.accounts.principal import current_principal
from tracker.db import db
from tracker.forms import attach_error
from tracker.habilitations.workflow import Actor
from tracker.products import queries, services
from tracker.products.forms import ProductForm

blueprint = Blueprint("products", __name__)


@blueprint.route("/logiciels", methods=["GET", "POST"])
@login_required
def index() -> Response | tuple[str, int]:
    principal = current_principal()
    if principal.actor is not Actor.EDITEUR:
        abort(403)
    form = ProductForm()
    status = 200
    if form.is_submitted():
        status = 422
        if form.validate():
            try:
                product = services.declare_product(
                    db.session, principal=principal, name=form.name.data, version=form.version.data
                )
            except services.ProductError as error:
                db.session.rollback()
                attach_error(form, error.field, error.message)
            else:
                db.session.commit()
                flash(f"Logiciel {product.label} déclaré.", "success")
                return redirect(url_for("products.index"))
    rows = queries.products_of(db.session, principal.organization.id)
    return render_template("products/index.html", form=form, rows=rows), status
