"""China contact records and the register of outside agencies: the debtor's agreement to an
appointment, a contact's refusal of further contact, who went on a field visit and whether they
entered with consent; the collection agencies with their licence, contract and review dates, and
the notice to the debtor that a placement waits for

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import arrears.kit.db

revision = "0027"
down_revision = "0026"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TS = arrears.kit.db.UTCDateTime(timezone=True)


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def upgrade() -> None:
    op.create_table(
        "appointment_agreements",
        sa.Column("appointment_id", ID, nullable=False),
        sa.Column("agreed_via", sa.String(length=16), nullable=False),
        sa.Column("agreed_at", TS, nullable=False),
        sa.Column("recorded_by", sa.String(length=64), nullable=False),
        sa.CheckConstraint(_in("agreed_via", ("portal", "agent")), name=op.f("ck_appointment_agreements_agreed_via")),
        sa.ForeignKeyConstraint(["appointment_id"], ["appointments.id"],
                                name=op.f("fk_appointment_agreements_appointment_id_appointments")),
        sa.PrimaryKeyConstraint("appointment_id", name=op.f("pk_appointment_agreements")),
    )
    op.create_table(
        "contact_refusals",
        sa.Column("contact_point_id", ID, nullable=False),
        sa.Column("refused_at", TS, nullable=False),
        sa.Column("interaction_id", ID, nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("recorded_by", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(["contact_point_id"], ["contact_points.id"],
                                name=op.f("fk_contact_refusals_contact_point_id_contact_points")),
        sa.ForeignKeyConstraint(["interaction_id"], ["interactions.id"],
                                name=op.f("fk_contact_refusals_interaction_id_interactions")),
        sa.PrimaryKeyConstraint("contact_point_id", name=op.f("pk_contact_refusals")),
    )
    op.create_table(
        "visit_records",
        sa.Column("interaction_id", ID, nullable=False),
        sa.Column("collectors", sa.Integer(), nullable=False),
        sa.Column("entered", sa.Boolean(), nullable=False),
        sa.Column("entry_consent", sa.Boolean(), nullable=False),
        sa.CheckConstraint("collectors >= 1", name=op.f("ck_visit_records_collectors")),
        sa.ForeignKeyConstraint(["interaction_id"], ["interactions.id"],
                                name=op.f("fk_visit_records_interaction_id_interactions")),
        sa.PrimaryKeyConstraint("interaction_id", name=op.f("pk_visit_records")),
    )
    op.create_table(
        "collection_agencies",
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("licence", sa.String(length=100), nullable=False),
        sa.Column("contract_start", sa.Date(), nullable=False),
        sa.Column("contract_end", sa.Date(), nullable=False),
        sa.Column("last_review", sa.Date(), nullable=True),
        sa.Column("next_review", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("updated_by", sa.String(length=64), nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.CheckConstraint(_in("status", ("active", "suspended", "terminated")),
                           name=op.f("ck_collection_agencies_status")),
        sa.CheckConstraint("contract_end >= contract_start", name=op.f("ck_collection_agencies_contract")),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_collection_agencies")),
    )
    op.create_table(
        "agency_notices",
        sa.Column("id", ID, nullable=False),
        sa.Column("case_id", ID, nullable=False),
        sa.Column("agency", sa.String(length=32), nullable=False),
        sa.Column("outbox_message_id", ID, nullable=True),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_agency_notices_case_id_cases")),
        sa.ForeignKeyConstraint(["outbox_message_id"], ["outbox_messages.id"],
                                name=op.f("fk_agency_notices_outbox_message_id_outbox_messages")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agency_notices")),
    )
    with op.batch_alter_table("agency_notices") as batch_op:
        batch_op.create_index("uq_agency_notices_case_agency", ["case_id", "agency"], unique=True)


def downgrade() -> None:
    with op.batch_alter_table("agency_notices") as batch_op:
        batch_op.drop_index("uq_agency_notices_case_agency")
    op.drop_table("agency_notices")
    op.drop_table("collection_agencies")
    op.drop_table("visit_records")
    op.drop_table("contact_refusals")
    op.drop_table("appointment_agreements")
