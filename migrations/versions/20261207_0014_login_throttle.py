"""login throttle: a login attempt is 'pending' while its password is checked; attempts by address

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07

A sign-in reserves its attempt (outcome ``pending``) under the throttle's lock, checks the password
outside any lock, then records the outcome: a pending attempt counts as a failure, so parallel
guesses can never exceed the limit and a process killed mid-check errs on the safe side
(arrears.auth.service.login). Throttling also counts failures per client address.
"""

from __future__ import annotations

from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

OLD = ("ok", "bad_password", "unknown_user", "locked", "inactive")
NEW = ("ok", "bad_password", "unknown_user", "locked", "inactive", "pending")


def _in(values: tuple[str, ...]) -> str:
    return f"outcome IN ({', '.join(repr(v) for v in values)})"


def _set_outcomes(values: tuple[str, ...]) -> None:
    with op.batch_alter_table("login_attempts") as batch_op:
        batch_op.drop_constraint(op.f("ck_login_attempts_outcome"), type_="check")
        batch_op.create_check_constraint(op.f("ck_login_attempts_outcome"), _in(values))


def upgrade() -> None:
    _set_outcomes(NEW)
    with op.batch_alter_table("login_attempts") as batch_op:
        batch_op.create_index("ix_login_attempts_remote_at", ["remote", "at"], unique=False)


def downgrade() -> None:
    op.execute("UPDATE login_attempts SET outcome = 'bad_password' WHERE outcome = 'pending'")
    with op.batch_alter_table("login_attempts") as batch_op:
        batch_op.drop_index("ix_login_attempts_remote_at")
    _set_outcomes(OLD)
