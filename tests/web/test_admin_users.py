"""The administrator edits a user (role, team, active), resets a password, and creates teams on purpose:
a mistyped team code never creates a team."""

from __future__ import annotations

from sqlalchemy import select

from arrears.auth.service import login
from arrears.auth.tables import AuditRecord, Team, User
from tests.api.conftest import Api
from tests.web.support import PASSWORD, page_csrf, sign_in


def _audits(api: Api, action: str) -> list[tuple[str, str | None, dict]]:
    with api.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(select(AuditRecord.actor, AuditRecord.entity_id, AuditRecord.detail)
                                               .where(AuditRecord.action == action).order_by(AuditRecord.seq))]


def _teams(api: Api) -> list[str]:
    with api.engine.connect() as conn:
        return list(conn.execute(select(Team.code).order_by(Team.code)).scalars())


def test_a_mistyped_team_creates_no_team_and_a_team_is_created_on_purpose(api: Api) -> None:
    admin = sign_in(api, "admin", lang="zh_CN")
    token = page_csrf(admin, "/admin")
    page = admin.get("/admin").text
    assert '<select id="u-team" name="team"' in page and '<option value="east">' in page
    data = {"username": "agent_n", "role": "agent", "team": "eats", "password": PASSWORD, "csrf_token": token}
    r = admin.post("/admin/users", data=data)
    assert r.status_code == 422 and "没有代码为 eats 的团队" in r.text
    assert _teams(api) == ["east", "west"]
    # creating a team is its own form, audited, and refused twice
    assert admin.post("/admin/teams", data={"team_code": "north", "team_name": "北区", "csrf_token": "forged"}
                      ).status_code == 403
    r = admin.post("/admin/teams", data={"team_code": "north", "team_name": "北区", "csrf_token": token})
    assert r.status_code == 303 and r.headers["location"] == "/admin?notice=team_created"
    assert "团队已创建。" in admin.get(r.headers["location"]).text
    assert _teams(api) == ["east", "north", "west"]
    assert [(a, d["code"]) for a, _, d in _audits(api, "team.create")][-1] == ("admin", "north")
    again = admin.post("/admin/teams", data={"team_code": "north", "team_name": "", "csrf_token": token})
    assert again.status_code == 422 and "团队 north 已存在" in again.text
    bad = admin.post("/admin/teams", data={"team_code": "no th", "team_name": "", "csrf_token": token})
    assert bad.status_code == 422 and _teams(api) == ["east", "north", "west"]
    r = admin.post("/admin/users", data={**data, "team": "north"})
    assert r.status_code == 303


def test_the_admin_edits_a_user_and_resets_a_password(api: Api) -> None:
    admin = sign_in(api, "admin", lang="en")
    victim = sign_in(api, "agent_west")
    uid = api.user_ids["agent_west"]
    page = admin.get(f"/admin/users/{uid}").text
    assert "agent_west" in page and f'action="/admin/users/{uid}"' in page
    token = page_csrf(admin, f"/admin/users/{uid}")
    assert admin.post(f"/admin/users/{uid}", data={"role": "team_lead", "team": "east", "active": "1",
                                                   "csrf_token": "forged"}).status_code == 403
    r = admin.post(f"/admin/users/{uid}", data={"role": "team_lead", "team": "east", "active": "1",
                                                "csrf_token": token})
    assert r.status_code == 303 and r.headers["location"] == "/admin?notice=updated"
    with api.engine.connect() as conn:
        row = conn.execute(select(User.role, User.team_id, User.active).where(User.id == uid)).one()
        east = conn.execute(select(Team.id).where(Team.code == "east")).scalar_one()
    assert tuple(row) == ("team_lead", east, True)
    assert _audits(api, "user.update")[-1] == ("admin", str(uid), {
        "username": "agent_west", "role": ["agent", "team_lead"], "team": ["west", "east"]})
    # a team role needs an existing team; nothing changes
    for bad in ({"team": ""}, {"team": "nowhere"}, {"role": "root"}):
        r = admin.post(f"/admin/users/{uid}", data={"role": "agent", "team": "east", "active": "1",
                                                    "csrf_token": token, **bad})
        assert r.status_code == 422, bad
    # deactivated through the form: sessions end
    r = admin.post(f"/admin/users/{uid}", data={"role": "team_lead", "team": "east", "csrf_token": token})
    assert r.status_code == 303 and victim.get("/queue").status_code == 303
    # the password reset: refused when weak, then set, audited, the old password no longer works
    assert admin.post(f"/admin/users/{uid}/password", data={"password": "short", "csrf_token": token}
                      ).status_code == 422
    assert admin.post(f"/admin/users/{uid}/password", data={"password": "x", "csrf_token": "forged"}
                      ).status_code == 403
    r = admin.post(f"/admin/users/{uid}/password", data={"password": "a brand new pass phrase", "csrf_token": token})
    assert r.status_code == 303 and r.headers["location"] == "/admin?notice=password_reset"
    assert _audits(api, "user.password")[-1][:2] == ("admin", str(uid))
    with api.engine.connect() as conn:
        stored = conn.execute(select(User.password_hash).where(User.id == uid)).scalar_one()
    assert stored != "" and "a brand new pass phrase" not in stored
    r = admin.post(f"/admin/users/{uid}", data={"role": "team_lead", "team": "east", "active": "1",
                                                "csrf_token": token})
    assert login(api.engine, username="agent_west", password="a brand new pass phrase").username == "agent_west"
    # others may not
    for who in ("lead_east", "supervisor"):
        assert sign_in(api, who).get(f"/admin/users/{uid}").status_code == 403
