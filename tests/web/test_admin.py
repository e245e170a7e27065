"""The administrator's pages: users and teams, strategy versions, policy packs, message templates."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select, update

from arrears.auth.tables import AuditRecord, User
from arrears.kit.clock import utc_now
from arrears.strategy.active import ActiveStrategy
from arrears.web.i18n import LOCALES
from tests.api.conftest import Api
from tests.web.support import PASSWORD, page_csrf, sign_in
from tests.web.test_dashboards import table

STRATEGIES = Path(__file__).parents[2] / "strategies"
PAGES = ("/admin", "/admin/strategies", "/admin/packs", "/admin/templates")


def _audits(api: Api, action: str) -> list[tuple[str, str | None, dict]]:
    with api.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(select(AuditRecord.actor, AuditRecord.entity_id, AuditRecord.detail)
                                               .where(AuditRecord.action == action).order_by(AuditRecord.seq))]


@pytest.mark.parametrize("locale", LOCALES)
def test_the_admin_pages_render_for_admins_only(api: Api, locale: str) -> None:
    words = {"zh_CN": ("用户与团队", "策略版本", "合规规则包", "消息模板"),
             "en": ("Users and teams", "Strategy versions", "Policy packs", "Message templates")}[locale]
    admin = sign_in(api, "admin", lang=locale)
    for url in PAGES:
        r = admin.get(url)
        assert r.status_code == 200, (url, r.text[:300])
        assert all(w in r.text for w in words), url
    for who in ("agent_east", "lead_east", "supervisor", "compliance", "auditor"):
        client = sign_in(api, who, lang=locale)
        for url in PAGES:
            assert client.get(url).status_code == 403, (who, url)


def test_creating_a_user_is_audited_and_the_user_can_sign_in(api: Api) -> None:
    admin = sign_in(api, "admin", lang="en")
    token = page_csrf(admin, "/admin")
    data = {"username": "agent_north", "display_name": "North One", "role": "agent", "team": "north",
            "password": PASSWORD, "csrf_token": token}
    assert admin.post("/admin/users", data={**data, "csrf_token": "forged"}).status_code == 403
    assert admin.post("/admin/teams", data={"team_code": "north", "csrf_token": token}).status_code == 303
    r = admin.post("/admin/users", data=data)
    assert r.status_code == 303 and r.headers["location"] == "/admin?notice=created"
    created = _audits(api, "user.create")
    assert created[-1][0] == "admin" and created[-1][2] == {"username": "agent_north", "role": "agent", "team": "north"}
    assert [a for a, _, d in _audits(api, "team.create") if d["code"] == "north"] == ["admin"]
    page = admin.get("/admin").text
    assert ["agent_north", "North One", "Agent", "north", "Active"] in [r[:5] for r in table(page, "t-users")]
    assert sign_in(api, "agent_north").get("/queue").status_code == 200
    # refused: an agent without a team, a short password, a username taken; nothing is written
    for bad in ({"team": ""}, {"password": "short"}, {"username": "agent_east"}):
        r = admin.post("/admin/users", data={**data, "username": "someone", **bad})
        assert r.status_code == 422, bad
        assert 'class="error"' in r.text
    with api.engine.connect() as conn:
        assert conn.execute(select(User.id).where(User.username == "someone")).first() is None
    assert len(_audits(api, "user.create")) == len(created)


def test_deactivate_and_unlock_are_audited(api: Api) -> None:
    admin = sign_in(api, "admin", lang="en")
    victim = sign_in(api, "agent_west")
    with api.engine.begin() as conn:
        conn.execute(update(User).where(User.username == "agent_east").values(locked_until=utc_now().replace(year=2099)))
    token = page_csrf(admin, "/admin")
    assert "Unlock" in admin.get("/admin").text
    r = admin.post(f"/admin/users/{api.user_ids['agent_east']}/unlock", data={"csrf_token": token})
    assert r.status_code == 303
    assert _audits(api, "auth.unlock")[-1][:2] == ("admin", str(api.user_ids["agent_east"]))
    r = admin.post(f"/admin/users/{api.user_ids['agent_west']}/deactivate", data={"csrf_token": token})
    assert r.status_code == 303
    assert _audits(api, "user.deactivate")[-1][:2] == ("admin", str(api.user_ids["agent_west"]))
    assert victim.get("/queue").status_code == 303  # the session was revoked
    assert admin.post(f"/admin/users/{api.user_ids['admin']}/deactivate", data={"csrf_token": token}).status_code == 400
    assert admin.post("/admin/users/999999/unlock", data={"csrf_token": token}).status_code == 404


GOOD = """\
strategy:
  name: web-test
  version: 3
segments:
  - code: on_hold
    when: hold_active
    path: []
  - code: everyone
    path: []
"""


def test_strategy_files_validate_with_line_and_field_and_activate(api: Api, tmp_path: Path) -> None:
    (tmp_path / "web-test.yaml").write_text(GOOD, encoding="utf-8")
    (tmp_path / "broken.yaml").write_text(GOOD.replace("version: 3", "version: 0"), encoding="utf-8")
    (tmp_path / "notes.txt").write_text("not a strategy", encoding="utf-8")
    api.client.app.state.settings.strategy_dir = tmp_path
    admin = sign_in(api, "admin", lang="en")
    page = admin.get("/admin/strategies").text
    assert [r[0] for r in table(page, "t-strategy-files")] == ["broken.yaml", "web-test.yaml"]
    r = admin.get("/admin/strategies", params={"validate": "broken.yaml"})
    assert r.status_code == 422 and "broken.yaml is not valid." in r.text
    assert "<dd>3</dd>" in r.text and "<code>strategy.version</code>" in r.text
    ok = admin.get("/admin/strategies", params={"validate": "web-test.yaml"})
    assert ok.status_code == 200 and "web-test.yaml is valid: web-test v3, 2 segment(s), 0 action(s)." in ok.text
    assert admin.get("/admin/strategies", params={"validate": "../pyproject.toml"}).status_code == 404
    token = page_csrf(admin, "/admin/strategies")
    refused = admin.post("/admin/strategies/activate", data={"file": "broken.yaml", "csrf_token": token})
    assert refused.status_code == 422 and _audits(api, "strategy.activate") == []
    r = admin.post("/admin/strategies/activate", data={"file": "web-test.yaml", "csrf_token": token})
    assert r.status_code == 303
    with api.engine.connect() as conn:
        rows = conn.execute(select(ActiveStrategy.strategy, ActiveStrategy.version, ActiveStrategy.file)).all()
    assert rows == [("web-test", 3, "web-test.yaml")]
    assert _audits(api, "strategy.activate")[0][:2] == ("admin", "web-test")
    assert "Active: web-test v3" in admin.get("/admin/strategies").text
    # a new version of the same strategy replaces the active one
    (tmp_path / "web-test-v4.yaml").write_text(GOOD.replace("version: 3", "version: 4"), encoding="utf-8")
    assert admin.post("/admin/strategies/activate", data={"file": "web-test-v4.yaml", "csrf_token": token}
                      ).status_code == 303
    with api.engine.connect() as conn:
        rows = conn.execute(select(ActiveStrategy.strategy, ActiveStrategy.version, ActiveStrategy.file)).all()
    assert rows == [("web-test", 4, "web-test-v4.yaml")]
    assert _audits(api, "strategy.activate")[1][2]["before"] == {"version": 3, "file": "web-test.yaml"}
    r = admin.post("/admin/strategies/deactivate", data={"strategy": "web-test", "csrf_token": token})
    assert r.status_code == 303 and _audits(api, "strategy.deactivate")[0][:2] == ("admin", "web-test")
    with api.engine.connect() as conn:
        assert conn.execute(select(ActiveStrategy.id)).all() == []


def test_the_packaged_strategies_folder_is_listed_by_default(api: Api) -> None:
    page = sign_in(api, "admin", lang="en").get("/admin/strategies").text
    assert {p.name for p in STRATEGIES.glob("*.yaml")} <= {r[0] for r in table(page, "t-strategy-files")}


def test_policy_packs_and_template_previews(api: Api) -> None:
    admin = sign_in(api, "admin", lang="en")
    packs = admin.get("/admin/packs").text
    assert "quiet_hours" in [r[0] for r in table(packs, "t-pack-cn")]
    assert 'id="t-pack-us-reg-f"' in packs
    templates = admin.get("/admin/templates").text
    assert 'id="tpl-early.reminder"' in templates and "Zhang San" in templates and "张三" in templates
    assert 'class="error"' not in templates
