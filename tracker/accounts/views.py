"""Login, logout, invitations and the organization's members page."""

from __future__ import annotations

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import current_user, login_required, login_user, logout_user
from flask_wtf import FlaskForm
from sqlalchemy import delete, select
from sqlalchemy.orm import joinedload

from tracker.accounts.auth import SESSION_TOKEN_KEY, LoggedInUser
from tracker.accounts.forms import AcceptInvitationForm, InviteForm, LoginForm
from tracker.accounts.models import DgfipFunction, Invitation, Membership, MembershipRole, OrganizationKind, User
from tracker.accounts.principal import current_principal
from tracker.accounts.services import (
    AccountError,
    accept_invitation,
    authenticate,
    close_session,
    existing_account,
    find_open_invitation,
    invite,
    normalize_email,
    open_session,
    switch_membership,
)
from tracker.audit import services as audit
from tracker.db import db, utcnow
from tracker.extensions import limiter
from tracker.forms import attach_error

blueprint = Blueprint("accounts", __name__)

LOGIN_FAILED = "Adresse électronique ou mot de passe incorrect."


def _submitted_email() -> str:
    return "login:" + normalize_email(request.form.get("email", ""))


def _login_failed(response: Response) -> bool:
    return response.status_code != 302


def _safe_next(target: str | None) -> str:
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return url_for("main.dashboard")


@blueprint.route("/connexion", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["LOGIN_FAILURES_PER_ADDRESS"], methods=["POST"], deduct_when=_login_failed)
@limiter.limit(
    lambda: current_app.config["LOGIN_FAILURES_PER_ACCOUNT"],
    methods=["POST"],
    key_func=_submitted_email,
    deduct_when=_login_failed,
)
def login() -> Response | str | tuple[str, int]:
    if current_user.is_authenticated:
        return redirect(url_for("main.dashboard"))
    form = LoginForm()
    if form.validate_on_submit():
        user = authenticate(db.session, form.email.data, form.password.data)
        if user is not None:
            try:
                token = open_session(db.session, user, ip_address=request.remote_addr)
            except AccountError as error:
                db.session.rollback()
                flash(error.message, "error")
                return render_template("accounts/login.html", form=form), 403
            db.session.commit()
            session.clear()  # nothing from before the login survives into the new session
            login_user(LoggedInUser(user))
            session[SESSION_TOKEN_KEY] = token
            session.permanent = True
            return redirect(_safe_next(request.args.get("next")))
        audit.record(db.session, "login_failed", actor_email=normalize_email(form.email.data)[:254], object_type="user")
        db.session.commit()
        form.form_errors.append(LOGIN_FAILED)
        return render_template("accounts/login.html", form=form), 401
    return render_template("accounts/login.html", form=form), 422 if form.errors else 200


@blueprint.route("/deconnexion", methods=["POST"])
def logout() -> Response:
    token = session.get(SESSION_TOKEN_KEY)
    if current_user.is_authenticated and token:
        principal = current_principal()
        close_session(db.session, token)
        audit.record(
            db.session,
            "logout",
            actor=principal.user,
            organization_id=principal.organization.id,
            object_type="user",
            object_id=principal.user.id,
        )
        db.session.commit()
    logout_user()
    session.clear()
    flash("Vous êtes déconnecté(e).", "info")
    return redirect(url_for("accounts.login"))


@blueprint.route("/invitation/<token>", methods=["GET", "POST"])
def accept(token: str) -> Response | str | tuple[str, int]:
    invitation = find_open_invitation(db.session, token)
    if invitation is None:
        return render_template("accounts/invitation_invalid.html"), 404
    account = existing_account(db.session, invitation.email)
    if account is not None:
        return _join_with_existing_account(token, invitation, account)
    form = AcceptInvitationForm()
    if form.validate_on_submit():
        try:
            accept_invitation(db.session, token, full_name=form.full_name.data, password=form.password.data)
        except AccountError as error:
            db.session.rollback()
            attach_error(form, error.field, error.message)
            return render_template("accounts/accept_invitation.html", form=form, invitation=invitation), 422
        db.session.commit()
        flash("Votre compte est créé. Connectez-vous avec votre adresse et votre mot de passe.", "success")
        return redirect(url_for("accounts.login"))
    status = 422 if form.errors else 200
    return render_template("accounts/accept_invitation.html", form=form, invitation=invitation), status


def _join_with_existing_account(token: str, invitation: Invitation, account: User) -> Response | tuple[str, int]:
    """The invited address already has an account: its owner joins while logged in, nothing else."""
    is_owner = current_user.is_authenticated and current_user.id == account.id
    form = FlaskForm()
    if is_owner and form.validate_on_submit():
        try:
            accept_invitation(db.session, token, acting_user=account)
        except AccountError as error:
            db.session.rollback()
            form.form_errors.append(error.message)
        else:
            db.session.commit()
            flash(
                f"Vous êtes désormais membre de {invitation.organization.name}. Choisissez ci-dessous "
                "l'organisation pour laquelle vous agissez.",
                "success",
            )
            return redirect(url_for("accounts.organization"))
    status = 422 if form.form_errors else 200
    return render_template(
        "accounts/join_invitation.html", invitation=invitation, form=form, is_owner=is_owner, token=token
    ), status


@blueprint.route("/organisation/choisir", methods=["POST"])
@login_required
def switch_organization() -> Response:
    principal = current_principal()
    try:
        membership_id = int(request.form.get("membership_id", ""))
        membership = switch_membership(db.session, session[SESSION_TOKEN_KEY], principal.user, membership_id)
    except (ValueError, AccountError):
        db.session.rollback()
        abort(404)
    db.session.commit()
    flash(f"Vous agissez désormais pour {membership.organization.name}.", "success")
    return redirect(url_for("main.dashboard"))


@blueprint.route("/organisation", methods=["GET", "POST"])
@login_required
def organization() -> Response | str | tuple[str, int]:
    principal = current_principal()
    form = InviteForm()
    if principal.organization.kind is not OrganizationKind.DGFIP:
        del form.dgfip_function
    if request.method == "POST":
        if not principal.membership.is_admin:
            abort(403)
        if form.validate_on_submit():
            function = form.dgfip_function.data if "dgfip_function" in form else None
            try:
                invite(
                    db.session,
                    organization=principal.organization,
                    email=form.email.data,
                    invited_by=principal.user,
                    role=MembershipRole(form.role.data),
                    dgfip_function=DgfipFunction(function) if function else None,
                )
            except AccountError as error:
                db.session.rollback()
                attach_error(form, error.field, error.message)
            else:
                db.session.commit()
                flash(f"Invitation envoyée à {normalize_email(form.email.data)}.", "success")
                return redirect(url_for("accounts.organization"))
    members = (
        db.session.execute(
            select(Membership)
            .options(joinedload(Membership.user))
            .where(Membership.organization_id == principal.organization.id)
            .order_by(Membership.id)
        )
        .scalars()
        .all()
    )
    invitations = (
        db.session.execute(
            select(Invitation)
            .where(
                Invitation.organization_id == principal.organization.id,
                Invitation.accepted_at.is_(None),
                Invitation.expires_at > utcnow(),
            )
            .order_by(Invitation.created_at.desc())
        )
        .scalars()
        .all()
    )
    other_memberships = (
        db.session.execute(
            select(Membership)
            .options(joinedload(Membership.organization))
            .where(Membership.user_id == principal.user.id, Membership.id != principal.membership.id)
            .order_by(Membership.id)
        )
        .scalars()
        .all()
    )
    status = 422 if form.errors or form.form_errors else 200
    return render_template(
        "accounts/organization.html",
        principal=principal,
        members=members,
        invitations=invitations,
        other_memberships=other_memberships,
        form=form,
    ), status


@blueprint.route("/organisation/membres/<int:membership_id>/retirer", methods=["POST"])
@login_required
def remove_member(membership_id: int) -> Response:
    principal = current_principal()
    if not principal.membership.is_admin:
        abort(403)
    membership = db.session.execute(
        select(Membership).where(
            Membership.id == membership_id, Membership.organization_id == principal.organization.id
        )
    ).scalar_one_or_none()
    if membership is None:
        abort(404)
    if membership.user_id == principal.user.id:
        flash("Vous ne pouvez pas vous retirer vous-même de l'organisation.", "error")
        return redirect(url_for("accounts.organization"))
    db.session.execute(delete(Membership).where(Membership.id == membership.id))
    audit.record(
        db.session,
        "membership_removed",
        actor=principal.user,
        organization_id=principal.organization.id,
        object_type="membership",
        object_id=membership_id,
        details={"user_id": membership.user_id},
    )
    db.session.commit()
    flash("La personne a été retirée de l'organisation ; ses sessions sont fermées.", "success")
    return redirect(url_for("accounts.organization"))
