"""The admin's new-user form applies the password policy and says which rule in the user's language."""

from __future__ import annotations

from tests.web.support import page_csrf, sign_in


def test_the_admin_page_refuses_the_username_as_password_in_the_users_language(api):
    admin = sign_in(api, "admin", lang="zh_CN")
    r = admin.post("/admin/users", data={"csrf_token": page_csrf(admin, "/admin"), "username": "wang.fang",
                                          "role": "supervisor", "team": "", "password": "wang.fang2026"})
    assert r.status_code == 422
    assert "密码不能包含用户名或姓名" in r.text
