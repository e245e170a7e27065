"""The account feature view: what a strategy condition can see about an account on a business date.

:data:`FEATURES` is the documented list (name, type, meaning, source); docs/strategy.md prints it.
Condition checking (:mod:`arrears.strategy.conditions`) allows exactly these names, with these types.

:func:`build_features` computes the view from the store for one business date: one row per account
that has an open case or a delinquency snapshot on that date. It reads the tables it needs into Arrow
(:class:`~arrears.kit.arrowdb.ArrowReader`) and joins them in DuckDB, like the daily cycle.

Conventions: money is integer fen; ratios are integer basis points (1/10,000); "days" are whole
business days counted in the bank's time zone; windows such as "90 days" end on the business date
and include it (for 90 days: ``business_date - 89`` … ``business_date``). The lifecycle, promise,
review and plan statuses are the store's current ones (the store keeps no history of them), so the
view of a past date mixes that date's ledger with today's case state.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import closing
from dataclasses import dataclass
from datetime import date, timedelta

import duckdb
import pyarrow as pa
from sqlalchemy import Engine, inspect

from arrears.cases.tables import OPEN_STATES_SQL
from arrears.kit.arrowdb import ArrowReader, epoch_days

#: Condition types and their Arrow types.
ARROW_TYPES = {"integer": pa.int64(), "text": pa.string(), "boolean": pa.bool_()}


@dataclass(frozen=True)
class Feature:
    name: str
    #: integer | text | boolean
    type: str
    meaning: str
    source: str
    nullable: bool = False


FEATURES: tuple[Feature, ...] = (
    # -- the account ------------------------------------------------------------------------------
    Feature("account_id", "integer", "The store's id of the account (the key of the view).", "accounts.id"),
    Feature("account_ref", "text", "The bank's account number.", "accounts.account_ref"),
    Feature("product", "text", "Card product code as the bank sends it.", "accounts.product"),
    Feature("account_status", "text", "open, frozen, closed or charged_off (the bank's status).", "accounts.status"),
    Feature("language", "text", "The customer's language (zh_CN, en …).", "customers.language"),
    Feature("region_code", "text", "Province code of the resident ID (its first two digits, e.g. '44' = "
            "Guangdong): where the ID was issued, not necessarily where the customer lives. NULL when the ID "
            "does not start with two digits.", "customers.national_id", nullable=True),
    Feature("months_on_book", "integer", "Whole months from the account's opening to the business date.",
            "accounts.opened_on"),
    Feature("credit_limit", "integer", "Credit limit in fen.", "accounts.credit_limit"),
    Feature("balance", "integer", "Balance in fen: the latest statement's new balance (statement date on or "
            "before the business date) less payments valued after that statement, through the business date. "
            "0 without a statement; negative for a credit balance.", "statements, payments"),
    Feature("utilisation_bp", "integer", "max(balance, 0) × 10,000 ÷ credit_limit, rounded down, in basis "
            "points (8,500 = 85 %); NULL when the limit is 0.", "balance, accounts.credit_limit", nullable=True),
    # -- delinquency ------------------------------------------------------------------------------
    Feature("dpd", "integer", "Days past due on the business date; 0 without a snapshot (not past due).",
            "delinquency_snapshots.dpd"),
    Feature("bucket", "text", "Delinquency bucket (M0 … M7+, per buckets.yaml); the current bucket without "
            "a snapshot.", "delinquency_snapshots.bucket"),
    Feature("cycles_delinquent", "integer", "Statement cycles with an unpaid minimum; 0 without a snapshot.",
            "delinquency_snapshots.cycles_delinquent"),
    Feature("amount_past_due", "integer", "Past-due amount in fen; 0 without a snapshot.",
            "delinquency_snapshots.amount_past_due"),
    Feature("charge_off", "boolean", "The charge-off flag of the delinquency rules (DPD at or past "
            "charge_off_dpd).", "delinquency_snapshots.charge_off"),
    # -- payment history --------------------------------------------------------------------------
    Feature("payments_90d_fen", "integer", "Sum of payments valued in the 90 days ending on the business "
            "date, in fen.", "payments"),
    Feature("payments_count_90d", "integer", "Number of those payments.", "payments"),
    Feature("last_payment_days_ago", "integer", "Days from the latest payment (value date on or before the "
            "business date) to the business date; NULL when the account never paid.", "payments", nullable=True),
    Feature("behaviour_score", "integer", "Behaviour score: the probability of the next payment in basis "
            "points, 0 … 10,000 (7,500 = 75 %; docs/behaviour-score.md), the latest scored on or before the "
            "business date; NULL until a scoring step has written one.",
            "behaviour_scores.score (optional table: account_id, business_date, score)", nullable=True),
    # -- holds ------------------------------------------------------------------------------------
    Feature("hold_active", "boolean", "A hold covers the business date (start ≤ date ≤ end, or open-ended).",
            "holds"),
    Feature("hold_kind", "text", "Kind of the active hold; with several, the most serious (deceased, "
            "bankruptcy, fraud, legal, dispute, complaint, hardship). NULL without one.", "holds.kind",
            nullable=True),
    Feature("hold_review_pending", "boolean", "An interaction placed a hold that waits for a person's review "
            "(contact stops meanwhile).", "hold_reviews.status"),
    # -- the case ---------------------------------------------------------------------------------
    Feature("case_id", "integer", "The account's open case, else its latest case; NULL without any.",
            "cases.id", nullable=True),
    Feature("case_status", "text", "Lifecycle state of that case (new, contacting … cured, closed).",
            "cases.status", nullable=True),
    Feature("days_in_case", "integer", "Days from the case's opening (or its latest reopening) to the "
            "business date.", "cases.opened_on, cases.reopened_on", nullable=True),
    # -- contact ----------------------------------------------------------------------------------
    Feature("last_contact_outcome", "text", "Outcome code (outcomes.yaml) of the account's latest interaction "
            "on or before the business date, any channel or direction; NULL when none.",
            "interactions.outcome", nullable=True),
    Feature("days_since_last_contact", "integer", "Days from that interaction's date (bank time zone) to the "
            "business date; NULL when none.", "interactions.started_at", nullable=True),
    Feature("contact_attempts_7d", "integer", "Outbound interactions (attempts and conversations) in the 7 "
            "days ending on the business date.", "interactions.direction"),
    Feature("rpc_30d", "integer", "Right-party contacts — conversations with the cardholder (party debtor and "
            "a right-party outcome, outcomes.yaml) — in the 30 days ending on the business date.",
            "interactions.party = 'debtor' AND a right-party outcome"),
    # -- promises and plans -----------------------------------------------------------------------
    Feature("open_promise", "boolean", "A promise to pay, made on or before the business date, is still open.",
            "promises.status"),
    Feature("promise_broken_90d", "boolean", "A promise with a promised date in the 90 days ending on the "
            "business date was broken (nothing paid).", "promises.status, promises.promised_date"),
    Feature("plan_status", "text", "Status of the account's latest repayment agreement made on or before the "
            "business date, leaving out superseded and cancelled ones (pending_approval, "
            "awaiting_confirmation, active, completed, broken); NULL without one.", "plan_agreements.status",
            nullable=True),
)

FEATURE_TYPES: dict[str, str] = {f.name: f.type for f in FEATURES}
FEATURE_SCHEMA = pa.schema([pa.field(f.name, ARROW_TYPES[f.type], nullable=f.nullable) for f in FEATURES])

#: Most serious first: the kind ``hold_kind`` reports when several holds are active.
HOLD_SEVERITY = ("deceased", "bankruptcy", "fraud", "legal", "dispute", "complaint", "hardship")


def _iso(d: date) -> str:
    return f"'{d.isoformat()}'"


def _epoch_seconds(column: str, dialect: str) -> str:
    if dialect == "sqlite":
        return f"CAST(strftime('%s', {column}) AS INTEGER)"
    return f"CAST(extract(epoch FROM {column}) AS BIGINT)"


def _read(reader: ArrowReader, *, business_date: date, account_ids: Sequence[int] | None,
          optional: set[str]) -> dict[str, pa.Table]:
    d = reader.dialect
    bd = _iso(business_date)
    scope = (f"(a.id IN (SELECT account_id FROM cases WHERE {OPEN_STATES_SQL}) OR a.id IN (SELECT account_id "
             f"FROM delinquency_snapshots WHERE superseded_by_run_id IS NULL AND business_date = {bd}))")
    if account_ids is not None:  # exactly these accounts, in scope or not (explaining a current account)
        scope = f"a.id IN ({', '.join(str(int(i)) for i in account_ids) or 'NULL'})"
    in_scope = f"account_id IN (SELECT a.id FROM accounts a WHERE {scope})"
    i64, txt, day, flag = pa.int64(), pa.string(), pa.date32(), pa.bool_()

    def schema(*cols: tuple[str, pa.DataType]) -> pa.Schema:
        return pa.schema(list(cols))

    out = {
        "acc": reader.read(
            f"SELECT a.id, a.account_ref, a.product, a.status, c.language, substr(c.national_id, 1, 2), "
            f"{epoch_days('a.opened_on', d)}, a.credit_limit FROM accounts a JOIN customers c ON c.id = a.customer_id "
            f"WHERE {scope}",
            schema(("account_id", i64), ("account_ref", txt), ("product", txt), ("account_status", txt),
                   ("language", txt), ("id_prefix", txt), ("opened_on", day), ("credit_limit", i64))),
        "snap": reader.read(
            f"SELECT account_id, dpd, bucket, cycles_delinquent, amount_past_due, "
            f"CASE WHEN charge_off THEN 1 ELSE 0 END FROM delinquency_snapshots "
            f"WHERE superseded_by_run_id IS NULL AND business_date = {bd} AND {in_scope}",
            schema(("account_id", i64), ("dpd", i64), ("bucket", txt), ("cycles_delinquent", i64),
                   ("amount_past_due", i64), ("charge_off", flag))),
        "stmt": reader.read(
            f"SELECT account_id, {epoch_days('statement_date', d)}, new_balance FROM statements "
            f"WHERE statement_date <= {bd} AND {in_scope}",
            schema(("account_id", i64), ("statement_date", day), ("new_balance", i64))),
        "pay": reader.read(
            f"SELECT account_id, {epoch_days('value_date', d)}, amount FROM payments "
            f"WHERE value_date <= {bd} AND {in_scope}",
            schema(("account_id", i64), ("value_date", day), ("amount", i64))),
        "hold": reader.read(
            f"SELECT account_id, kind FROM holds WHERE start_date <= {bd} "
            f"AND (end_date IS NULL OR end_date >= {bd}) AND {in_scope}",
            schema(("account_id", i64), ("kind", txt))),
        "cases": reader.read(
            f"SELECT id, account_id, status, CASE WHEN {OPEN_STATES_SQL} THEN 1 ELSE 0 END, "
            f"{epoch_days('opened_on', d)}, {epoch_days('reopened_on', d)} FROM cases WHERE {in_scope}",
            schema(("case_id", i64), ("account_id", i64), ("status", txt), ("is_open", flag),
                   ("opened_on", day), ("reopened_on", day))),
        "review": reader.read(
            "SELECT c.account_id FROM hold_reviews h JOIN cases c ON c.id = h.case_id "
            f"WHERE h.status = 'pending' AND c.{in_scope}",
            schema(("account_id", i64))),
        "contact": reader.read(
            f"SELECT c.account_id, {_epoch_seconds('i.started_at', d)}, i.outcome, i.direction, i.party "
            f"FROM interactions i JOIN cases c ON c.id = i.case_id WHERE c.{in_scope}",
            schema(("account_id", i64), ("started_s", i64), ("outcome", txt), ("direction", txt), ("party", txt))),
        "promise": reader.read(
            f"SELECT c.account_id, p.status, {epoch_days('p.promised_date', d)}, {epoch_days('p.created_on', d)} "
            f"FROM promises p JOIN cases c ON c.id = p.case_id WHERE c.{in_scope}",
            schema(("account_id", i64), ("status", txt), ("promised_date", day), ("created_on", day))),
    }
    plan_schema = schema(("account_id", i64), ("id", i64), ("status", txt))
    out["plan"] = reader.read(
        "SELECT account_id, id, status FROM plan_agreements WHERE status NOT IN ('superseded', 'cancelled') "
        f"AND start_date <= {bd} AND {in_scope}", plan_schema,
    ) if "plan_agreements" in optional else plan_schema.empty_table()
    score_schema = schema(("account_id", i64), ("as_of", day), ("score", i64))
    out["score"] = reader.read(
        f"SELECT account_id, {epoch_days('business_date', d)}, score FROM behaviour_scores "
        f"WHERE business_date <= {bd} AND {in_scope}", score_schema,
    ) if "behaviour_scores" in optional else score_schema.empty_table()
    return out


def _right_party_outcomes() -> tuple[str, ...]:
    """Outcomes that are a conversation with the cardholder (``party: debtor`` in outcomes.yaml)."""
    from arrears.cases.config import load_default_case_rules

    return load_default_case_rules().right_party_outcomes()


def feature_sql(business_date: date, current_bucket: str) -> str:
    """The feature view as one portable SQL statement (DuckDB's dialect; SQLGlot turns it into Spark
    SQL for the file cycle, :mod:`arrears.batch.filecycle`).

    Inputs are relations named ``acc``, ``snap``, ``stmt``, ``pay``, ``hold``, ``cases``, ``review``,
    ``contact``, ``promise``, ``plan`` and ``score`` with the columns :func:`_read` gives them, except
    that ``contact`` carries ``on_date``: the interaction's date in the bank's time zone (the caller
    converts, because time-zone functions differ between engines). ``stmt``, ``pay`` and ``hold``
    hold rows on or before the business date only (holds: active on it). Window bounds are date
    literals, and nothing here needs a correlated sub-query: Spark runs the same text.
    """
    bd = f"DATE {_iso(business_date)}"
    d7, d30, d90 = (f"DATE {_iso(business_date - timedelta(days=n))}" for n in (7, 30, 90))
    severity = " ".join(f"WHEN '{k}' THEN {i}" for i, k in enumerate(HOLD_SEVERITY))
    bucket = current_bucket.replace("'", "''")
    right_party = ", ".join(f"'{code}'" for code in _right_party_outcomes())
    return f"""
    WITH last_stmt AS (
        SELECT account_id, max(statement_date) AS statement_date, arg_max(new_balance, statement_date) AS new_balance
        FROM stmt GROUP BY account_id
    ), paid_since AS (
        SELECT p.account_id, sum(p.amount) AS amount
        FROM pay p JOIN last_stmt l ON l.account_id = p.account_id AND p.value_date > l.statement_date
        GROUP BY p.account_id
    ), bal AS (
        SELECT a.account_id, coalesce(l.new_balance, 0) - coalesce(q.amount, 0) AS balance
        FROM acc a LEFT JOIN last_stmt l ON l.account_id = a.account_id
        LEFT JOIN paid_since q ON q.account_id = a.account_id
    ), pays AS (
        SELECT account_id,
               sum(CASE WHEN value_date > {d90} THEN amount ELSE 0 END) AS fen_90,
               sum(CASE WHEN value_date > {d90} THEN 1 ELSE 0 END) AS n_90,
               max(value_date) AS last_date
        FROM pay GROUP BY account_id
    ), holds_now AS (
        SELECT account_id, arg_min(kind, CASE kind {severity} ELSE 99 END) AS kind FROM hold GROUP BY account_id
    ), chosen_case AS (
        SELECT account_id, coalesce(max(CASE WHEN is_open THEN case_id END), max(case_id)) AS case_id
        FROM cases GROUP BY account_id
    ), the_case AS (
        SELECT c.* FROM cases c JOIN chosen_case k ON k.account_id = c.account_id AND k.case_id = c.case_id
    ), contacts_by_account AS (
        SELECT account_id,
               arg_max(outcome, started_s) AS last_outcome,
               max(on_date) AS last_date,
               sum(CASE WHEN direction = 'outbound' AND on_date > {d7} THEN 1 ELSE 0 END) AS attempts_7d,
               sum(CASE WHEN party = 'debtor' AND outcome IN ({right_party}) AND on_date > {d30} THEN 1 ELSE 0 END)
                   AS rpc_30d
        FROM contact WHERE on_date <= {bd} GROUP BY account_id
    ), promises_by_account AS (
        SELECT account_id,
               max(CASE WHEN status = 'open' AND created_on <= {bd} THEN 1 ELSE 0 END) = 1 AS open_promise,
               max(CASE WHEN status = 'broken' AND promised_date > {d90} AND promised_date <= {bd}
                        THEN 1 ELSE 0 END) = 1 AS broken_90d
        FROM promise GROUP BY account_id
    ), plans AS (
        SELECT account_id, arg_max(status, id) AS status FROM plan GROUP BY account_id
    ), scores AS (
        SELECT account_id, arg_max(score, as_of) AS score FROM score GROUP BY account_id
    ), reviews AS (
        SELECT DISTINCT account_id FROM review
    )
    SELECT
        a.account_id, a.account_ref, a.product, a.account_status, a.language,
        CASE WHEN regexp_matches(coalesce(a.id_prefix, ''), '^[0-9]{{2}}$') THEN a.id_prefix END AS region_code,
        CAST(greatest(0, (year({bd}) - year(a.opened_on)) * 12 + month({bd}) - month(a.opened_on)
                    - CASE WHEN day({bd}) < day(a.opened_on) THEN 1 ELSE 0 END) AS BIGINT) AS months_on_book,
        a.credit_limit,
        CAST(b.balance AS BIGINT) AS balance,
        CASE WHEN a.credit_limit > 0 THEN CAST((greatest(b.balance, 0) * 10000) // a.credit_limit AS BIGINT) END
            AS utilisation_bp,
        CAST(coalesce(s.dpd, 0) AS BIGINT) AS dpd,
        coalesce(s.bucket, '{bucket}') AS bucket,
        CAST(coalesce(s.cycles_delinquent, 0) AS BIGINT) AS cycles_delinquent,
        CAST(coalesce(s.amount_past_due, 0) AS BIGINT) AS amount_past_due,
        coalesce(s.charge_off, false) AS charge_off,
        CAST(coalesce(p.fen_90, 0) AS BIGINT) AS payments_90d_fen,
        CAST(coalesce(p.n_90, 0) AS BIGINT) AS payments_count_90d,
        CAST(date_diff('day', p.last_date, {bd}) AS BIGINT) AS last_payment_days_ago,
        CAST(sc.score AS BIGINT) AS behaviour_score,
        h.kind IS NOT NULL AS hold_active,
        h.kind AS hold_kind,
        r.account_id IS NOT NULL AS hold_review_pending,
        c.case_id,
        c.status AS case_status,
        CAST(date_diff('day', greatest(c.opened_on, coalesce(c.reopened_on, c.opened_on)), {bd}) AS BIGINT)
            AS days_in_case,
        k.last_outcome AS last_contact_outcome,
        CAST(date_diff('day', k.last_date, {bd}) AS BIGINT) AS days_since_last_contact,
        CAST(coalesce(k.attempts_7d, 0) AS BIGINT) AS contact_attempts_7d,
        CAST(coalesce(k.rpc_30d, 0) AS BIGINT) AS rpc_30d,
        coalesce(pr.open_promise, false) AS open_promise,
        coalesce(pr.broken_90d, false) AS promise_broken_90d,
        pl.status AS plan_status
    FROM acc a
    JOIN bal b ON b.account_id = a.account_id
    LEFT JOIN snap s ON s.account_id = a.account_id
    LEFT JOIN pays p ON p.account_id = a.account_id
    LEFT JOIN scores sc ON sc.account_id = a.account_id
    LEFT JOIN holds_now h ON h.account_id = a.account_id
    LEFT JOIN reviews r ON r.account_id = a.account_id
    LEFT JOIN the_case c ON c.account_id = a.account_id
    LEFT JOIN contacts_by_account k ON k.account_id = a.account_id
    LEFT JOIN promises_by_account pr ON pr.account_id = a.account_id
    LEFT JOIN plans pl ON pl.account_id = a.account_id
    """


def contact_dates_sql(time_zone: str) -> str:
    """DuckDB: ``contact_raw`` (``started_s``, seconds since the epoch) with ``on_date`` in ``time_zone``."""
    tz = time_zone.replace("'", "''")
    return ("SELECT account_id, started_s, outcome, direction, party, "
            f"CAST(timezone('{tz}', to_timestamp(started_s)) AS DATE) AS on_date FROM contact_raw")


def optional_tables(engine: Engine) -> set[str]:
    """Which of the optional source tables (plan agreements, behaviour scores) this store has."""
    names = set(inspect(engine).get_table_names())
    return {t for t in ("plan_agreements", "behaviour_scores") if t in names}


def build_features(
    engine: Engine,
    business_date: date,
    *,
    account_ids: Sequence[int] | None = None,
    time_zone: str = "Asia/Shanghai",
    current_bucket: str | None = None,
) -> pa.Table:
    """The feature view on ``business_date`` (schema :data:`FEATURE_SCHEMA`), ordered by account id.

    One row per account with an open case or a (current) delinquency snapshot on the date; with
    ``account_ids``, exactly those accounts instead (in scope or not). ``time_zone`` is the bank's: it turns interaction times into
    business dates. ``current_bucket`` names the bucket of an account without a snapshot (default:
    the bucket of DPD 0 in the default delinquency rules).
    """
    if current_bucket is None:
        from arrears.delinquency.config import load_default_rules

        current_bucket = load_default_rules().buckets.lookup(0)
    optional = optional_tables(engine)
    with ArrowReader(engine) as reader:
        tables = _read(reader, business_date=business_date, account_ids=account_ids, optional=optional)
    with closing(duckdb.connect()) as con:
        for name, table in tables.items():
            con.register("contact_raw" if name == "contact" else name, table)
        con.execute(f"CREATE TEMP TABLE contact AS {contact_dates_sql(time_zone)}")
        result = con.sql(f"{feature_sql(business_date, current_bucket)} ORDER BY a.account_id").to_arrow_table()
    return result.cast(FEATURE_SCHEMA)


def empty_features() -> pa.Table:
    return FEATURE_SCHEMA.empty_table()


def features_table(rows: Sequence[dict]) -> pa.Table:  # type: ignore[type-arg]
    """A feature table from plain rows (a dict per account, every column present); for tests and tools."""
    return pa.Table.from_pylist([dict(r) for r in rows], schema=FEATURE_SCHEMA)
