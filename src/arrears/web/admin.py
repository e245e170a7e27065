"""The administrator's pages: users and teams, strategy versions, policy packs and message templates.

Every write goes through the domain services and is audited there (``user.create``,
``user.deactivate``, ``auth.unlock``, ``strategy.activate``, ``strategy.deactivate``); the pages add
nothing the services do not check. Policy packs and templates are shown read-only, templates with a
preview rendered on made-up sample data (:func:`arrears.channels.templates.sample_payload`).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from arrears.auth.deps import DbSession
from arrears.auth.model import ROLES, TEAM_ROLES, Role
from arrears.auth.passwords import WeakPassword
from arrears.auth.service import (
    MIN_PASSWORD_LENGTH,
    UnknownTeam,
    create_team,
    create_user,
    deactivate_user,
    set_password,
    unlock,
    update_user,
)
from arrears.auth.tables import Team, User
from arrears.channels import templates as message_templates
from arrears.contact.config import PACK_NAMES, load_default_pack
from arrears.contact.policy import Rule
from arrears.kit.clock import utc_now
from arrears.kit.errors import ArrearsError, ConfigError, NotFound
from arrears.strategy import active as strategies
from arrears.strategy.config import load_strategy
from arrears.web.i18n import N_
from arrears.web.inputs import PathId
from arrears.web.render import ROLE_NAMES, gettext, render, settings_of
from arrears.web.security import CsrfUser, page_role

router = APIRouter(include_in_schema=False)

Admin = Annotated[User, Depends(page_role(Role.ADMIN))]
SECTIONS = (("/admin", N_("Users and teams")), ("/admin/strategies", N_("Strategy versions")),
            ("/admin/packs", N_("Policy packs")), ("/admin/templates", N_("Message templates")))


def _strategy_dir(request: Request) -> Path:
    return Path(settings_of(request).strategy_dir)


# -- users and teams ---------------------------------------------------------------------------------------

def _users_page(request: Request, session: Session, *, error: str | None = None, form: dict[str, str] | None = None,
                notice: str | None = None, status_code: int = 200) -> Response:
    teams = list(session.execute(
        select(Team, func.count(User.id)).outerjoin(User, User.team_id == Team.id).group_by(Team.id)
        .order_by(Team.code)).all())
    codes = {t.id: t.code for t, _ in teams}
    users = list(session.scalars(select(User).order_by(User.username)))
    now = utc_now()
    rows = [{"id": u.id, "username": u.username, "display_name": u.display_name, "role": u.role,
             "team": codes.get(u.team_id) if u.team_id else None, "active": u.active,
             "locked": u.locked_until is not None and u.locked_until > now, "locked_until": u.locked_until,
             "last_login_at": u.last_login_at} for u in users]
    return render(request, "admin_users.html", status_code=status_code, sections=SECTIONS, users=rows,
                  teams=teams, roles=[(r, ROLE_NAMES[r]) for r in ROLES], role_names=ROLE_NAMES,
                  team_roles=sorted(TEAM_ROLES),
                  error=error, notice=notice, form=form or {}, min_password=MIN_PASSWORD_LENGTH)


@router.get("/admin")
def users_page(request: Request, session: DbSession, user: Admin, notice: str | None = None) -> Response:
    notices = {"created": N_("The user was created."), "deactivated": N_("The user was deactivated."),
               "unlocked": N_("The account was unlocked."), "team_created": N_("The team was created."),
               "updated": N_("The user was updated."),
               "password_reset": N_("The password was reset: tell the user, who signs in with it.")}
    return _users_page(request, session, notice=notices.get(notice or ""))


@router.post("/admin/users")
def add_user(
    request: Request, session: DbSession, user: Admin, _: CsrfUser,
    username: Annotated[str, Form(max_length=64)] = "",
    display_name: Annotated[str, Form(max_length=200)] = "",
    role: Annotated[str, Form(max_length=16)] = "",
    team: Annotated[str, Form(max_length=32)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
) -> Response:
    """A new user with a role and a team (``auth.service.create_user``, audited ``user.create``)."""
    form = {"username": username, "display_name": display_name, "role": role, "team": team}
    if len(password) < MIN_PASSWORD_LENGTH:
        return _users_page(request, session, form=form, status_code=422,
                           error=gettext(request, N_("The password must be at least %(n)s characters long."))
                           % {"n": MIN_PASSWORD_LENGTH})
    try:
        create_user(session, username=username, password=password, role=role, team=team.strip() or None,
                    display_name=display_name.strip() or None, actor=user.username)
    except WeakPassword as exc:  # refused before anything was written
        return _users_page(request, session, form=form, status_code=422,
                           error=gettext(request, WEAK_PASSWORD.get(exc.reason, N_("The password is too easy to guess."))))
    except UnknownTeam as exc:
        return _users_page(request, session, form=form, status_code=422, error=_unknown_team(request, exc))
    except ArrearsError as exc:
        return _users_page(request, session, form=form, status_code=422, error=exc.message)
    return RedirectResponse("/admin?notice=created", status_code=303)


def _unknown_team(request: Request, exc: UnknownTeam) -> str:
    return gettext(request, N_("There is no team with the code %(code)s: choose one from the list, or create the "
                               "team first.")) % {"code": exc.code}


@router.post("/admin/teams")
def add_team(
    request: Request, session: DbSession, user: Admin, _: CsrfUser,
    team_code: Annotated[str, Form(max_length=32)] = "",
    team_name: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    """A new team, on purpose (``auth.service.create_team``, audited ``team.create``): the user forms
    only choose among existing teams, so a mistyped code never creates one."""
    code = team_code.strip()
    try:
        with session.begin_nested():
            create_team(session, code=code, name=team_name, actor=user.username)
    except ArrearsError as exc:
        taken = exc.message.endswith("already exists")
        error = gettext(request, N_("Team %(code)s already exists.") if taken else
                        N_("A team code is 1 to 32 lower-case letters, digits, '.', '_' or '-'.")) % {"code": code}
        return _users_page(request, session, status_code=422, error=error,
                           form={"team_code": team_code, "team_name": team_name})
    return RedirectResponse("/admin?notice=team_created", status_code=303)


#: The password rule a refused password broke (arrears.auth.passwords), as the page says it.
WEAK_PASSWORD = {
    "too_long": N_("The password is too long: at most 128 characters."),
    "control": N_("The password may not contain control characters."),
    "username": N_("The password may not contain the username or the name."),
    "common": N_("This password is on the list of commonly used passwords: choose another."),
    "guessable": N_("The password is too easy to guess: use a longer phrase of unrelated words."),
}


def _other_user(session: Session, user_id: int) -> User:
    found = session.get(User, user_id)
    if found is None:
        raise NotFound(f"no user {user_id}")
    return found


@router.post("/admin/users/{user_id}/deactivate")
def deactivate(request: Request, user_id: PathId, session: DbSession, user: Admin, _: CsrfUser) -> Response:
    target = _other_user(session, user_id)
    if target.id == user.id:
        raise ArrearsError("you cannot deactivate your own account")
    deactivate_user(session, user=target, actor=user.username)
    return RedirectResponse("/admin?notice=deactivated", status_code=303)


def _user_page(request: Request, session: Session, target: User, *, error: str | None = None,
               status_code: int = 200) -> Response:
    teams = list(session.scalars(select(Team.code).order_by(Team.code)))
    team = session.get(Team, target.team_id).code if target.team_id else ""  # type: ignore[union-attr]
    return render(request, "admin_user.html", status_code=status_code, sections=SECTIONS, target=target,
                  team=team, teams=teams, roles=[(r, ROLE_NAMES[r]) for r in ROLES], error=error,
                  min_password=MIN_PASSWORD_LENGTH)


@router.get("/admin/users/{user_id}")
def user_page(request: Request, user_id: PathId, session: DbSession, user: Admin) -> Response:
    """One user: change the role, the team, whether they may sign in; reset the password."""
    return _user_page(request, session, _other_user(session, user_id))


@router.post("/admin/users/{user_id}")
def edit_user(
    request: Request, user_id: PathId, session: DbSession, user: Admin, _: CsrfUser,
    role: Annotated[str, Form(max_length=16)] = "",
    team: Annotated[str, Form(max_length=32)] = "",
    active: Annotated[str, Form(max_length=8)] = "",
) -> Response:
    """Role, team and active (``auth.service.update_user``, audited ``user.update``; deactivating is
    ``user.deactivate`` and ends the user's sessions). An administrator does not deactivate themself."""
    target = _other_user(session, user_id)
    if target.id == user.id and not active:
        return _user_page(request, session, target, status_code=422,
                          error=gettext(request, N_("You cannot deactivate your own account.")))
    try:
        with session.begin_nested():
            update_user(session, user=target, role=role, team=team, active=bool(active), actor=user.username)
    except UnknownTeam as exc:
        session.refresh(target)
        return _user_page(request, session, target, status_code=422, error=_unknown_team(request, exc))
    except (ArrearsError, ValueError) as exc:
        session.refresh(target)
        return _user_page(request, session, target, status_code=422,
                          error=exc.message if isinstance(exc, ArrearsError) else str(exc))
    return RedirectResponse("/admin?notice=updated", status_code=303)


@router.post("/admin/users/{user_id}/password")
def reset_password(
    request: Request, user_id: PathId, session: DbSession, user: Admin, _: CsrfUser,
    password: Annotated[str, Form(max_length=1024)] = "",
) -> Response:
    """A new password the administrator gives the user (``auth.service.set_password``, audited
    ``user.password``): every session and API token of the user is revoked."""
    target = _other_user(session, user_id)
    if len(password) < MIN_PASSWORD_LENGTH:
        return _user_page(request, session, target, status_code=422, error=gettext(
            request, N_("The password must be at least %(n)s characters long.")) % {"n": MIN_PASSWORD_LENGTH})
    try:
        set_password(session, user=target, password=password, actor=user.username)
    except WeakPassword as exc:
        return _user_page(request, session, target, status_code=422, error=gettext(
            request, WEAK_PASSWORD.get(exc.reason, N_("The password is too easy to guess."))))
    return RedirectResponse("/admin?notice=password_reset", status_code=303)


@router.post("/admin/users/{user_id}/unlock")
def unlock_user(request: Request, user_id: PathId, session: DbSession, user: Admin, _: CsrfUser) -> Response:
    unlock(session, user=_other_user(session, user_id), actor=user.username)
    return RedirectResponse("/admin?notice=unlocked", status_code=303)


# -- strategy versions -------------------------------------------------------------------------------------

def _validation(folder: Path, name: str) -> dict[str, Any]:
    """Load one file: OK with its label and counts, or the error with its line and field."""
    found = strategies.strategy_file(folder, name)
    try:
        s = load_strategy(found.path)
    except ConfigError as exc:
        return {"file": name, "ok": False, "line": exc.line, "field": exc.field, "message": exc.detail}
    except ArrearsError as exc:
        return {"file": name, "ok": False, "line": None, "field": None, "message": exc.message}
    return {"file": name, "ok": True, "label": s.label, "segments": len(s.segments),
            "actions": sum(len(seg.path) for seg in s.segments)}


def _strategies_page(request: Request, session: Session, *, validation: dict[str, Any] | None = None,
                     notice: str | None = None, status_code: int = 200) -> Response:
    folder = _strategy_dir(request)
    active = strategies.active(session)
    by_file = {(a.file, a.sha256): a for a in active}
    files = [{"name": f.name, "sha256": f.sha256, "active": by_file.get((f.name, f.sha256))}
             for f in strategies.strategy_files(folder)]
    return render(request, "admin_strategies.html", status_code=status_code, sections=SECTIONS, folder=str(folder),
                  files=files, active=active, validation=validation, notice=notice)


@router.get("/admin/strategies")
def strategies_page(request: Request, session: DbSession, user: Admin,
                    validate: Annotated[str, Query(max_length=255)] = "", notice: str | None = None) -> Response:
    validation = _validation(_strategy_dir(request), validate) if validate else None
    notices = {"activated": N_("The strategy version is now active."),
               "deactivated": N_("The strategy is no longer active.")}
    return _strategies_page(request, session, validation=validation, notice=notices.get(notice or ""),
                            status_code=422 if validation and not validation["ok"] else 200)


@router.post("/admin/strategies/activate")
def activate_strategy(request: Request, session: DbSession, user: Admin, _: CsrfUser,
                      file: Annotated[str, Form(max_length=255)] = "") -> Response:
    folder = _strategy_dir(request)
    validation = _validation(folder, file)
    if not validation["ok"]:
        return _strategies_page(request, session, validation=validation, status_code=422)
    strategies.activate(session, folder=folder, name=file, actor=user.username)
    return RedirectResponse("/admin/strategies?notice=activated", status_code=303)


@router.post("/admin/strategies/deactivate")
def deactivate_strategy(request: Request, session: DbSession, user: Admin, _: CsrfUser,
                        strategy: Annotated[str, Form(max_length=64)] = "") -> Response:
    strategies.deactivate(session, strategy=strategy, actor=user.username)
    return RedirectResponse("/admin/strategies?notice=deactivated", status_code=303)


# -- policy packs and templates (read-only) ----------------------------------------------------------------

_BASE_FIELDS = {f.name for f in dataclasses.fields(Rule)}


def _params(rule: Rule) -> list[tuple[str, Any]]:
    out = []
    for f in dataclasses.fields(rule):
        if f.name in _BASE_FIELDS:
            continue
        value = getattr(rule, f.name)
        if isinstance(value, frozenset | set | tuple | list):
            value = ", ".join(sorted(str(v) for v in value))
        out.append((f.name, value))
    return out


@router.get("/admin/packs")
def packs_page(request: Request, user: Admin) -> Response:
    from arrears.contact.packchoice import LAYER_NAMES, load_layer

    packs = []
    # the base packs, then the state and city layers merged on top of them by jurisdiction
    for pack in [*(load_default_pack(n) for n in PACK_NAMES), *(load_layer(n) for n in LAYER_NAMES)]:
        packs.append({"name": pack.name, "version": pack.version, "title_en": pack.title_en, "title_zh": pack.title_zh,
                      "rules": [{"rule": r, "params": _params(r)} for r in pack.rules]})
    return render(request, "admin_packs.html", sections=SECTIONS, packs=packs)


@router.get("/admin/templates")
def templates_page(request: Request, user: Admin) -> Response:
    items = []
    for code, spec in sorted(message_templates.catalogue().items()):
        previews = []
        for channel in spec.channels:
            for locale in message_templates.LOCALES:
                try:
                    rendered = message_templates.render(code, channel, locale,
                                                        message_templates.sample_payload(code, locale))
                    previews.append({"channel": channel, "locale": locale, "subject": rendered.subject,
                                     "body": rendered.body, "segments": rendered.segments, "error": None})
                except ArrearsError as exc:
                    previews.append({"channel": channel, "locale": locale, "error": exc.message})
        items.append({"spec": spec, "previews": previews})
    return render(request, "admin_templates.html", sections=SECTIONS, templates=items)


__all__ = ["router"]
