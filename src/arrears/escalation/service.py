"""Escalation services: agency placement, recall and collections; the legal review queue, bundle and
decisions; charge-off approval; the recoveries report.

Every function takes the caller's session and keyword-only domain arguments and ``flush()``-es; the
entry point owns the transaction. Every event leaves an audit record (:func:`arrears.auth.service.record`),
and so does every read of unmasked personal data into a file (the placement file, the legal bundle).
File formats: docs/escalation.md.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from arrears.accounts.tables import Account, ContactPoint, Customer, Payment, Statement
from arrears.auth.model import check_unmasked_output
from arrears.auth.service import record
from arrears.cases.model import can_transition, check_transition
from arrears.cases.service import business_date_of, transition
from arrears.cases.tables import CaseTransition, Interaction, Promise, Task
from arrears.channels.tables import OutboxMessage
from arrears.config import get_settings
from arrears.contact import regf as regulation_f
from arrears.contact.policy import zone
from arrears.contact.tables import ContactDecision
from arrears.escalation import repository as repo
from arrears.escalation.model import (
    DECISION_MOVES,
    Agencies,
    Agency,
    EscalationError,
    check_decision,
    commission,
    recall_reason,
)
from arrears.escalation.register import notice_days, notice_state, placement_refusal
from arrears.escalation.tables import AgencyCollection, AgencyPlacement, ChargeOff, CollectionAgency, LegalReferral
from arrears.kit.clock import utc_now
from arrears.kit.csvsafe import safe_cell
from arrears.kit.errors import ArrearsError, FileRejected
from arrears.plans.tables import PlanAgreement, PlanInstalment

PLACEMENT_COLUMNS = ("placement_id", "account_ref", "customer_name", "phone", "address", "balance_fen", "dpd",
                     "commission_rate_bp", "placed_on", "term_end")
RECALL_COLUMNS = ("placement_id", "agency", "account_ref", "placed_on", "recalled_on", "reason")
COLLECTION_COLUMNS = ("collection_ref", "placement_id", "account_ref", "value_date", "amount_fen")
#: Fixed timestamp of every member of a legal bundle, so the same data gives the same bytes.
ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    return str(value)


def csv_bytes(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> bytes:
    """UTF-8 CSV, ``\\n`` line ends, header first; text a spreadsheet would run as a formula is
    escaped (:func:`arrears.kit.csvsafe.safe_cell`)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([safe_cell(_cell(v)) for v in row])
    return buf.getvalue().encode("utf-8")


@dataclass(frozen=True)
class FileOut:
    """A file for an agency: its bytes and its manifest (row count, total, sha256)."""

    content: bytes
    manifest: dict[str, Any]
    skipped: tuple[tuple[int, str], ...] = ()

    @property
    def rows(self) -> int:
        return int(self.manifest["rows"])


# -- placement ------------------------------------------------------------------------------------

def place_accounts(session: Session, *, agency: Agency, on: date, actor: str, role: str, reason: str) -> FileOut:
    """Place every case in ``agency_placement`` without a live placement with ``agency`` on ``on``.

    The file carries names, phones and addresses unmasked: ``role`` must be one the masking policy lets
    unmask them all, and ``reason`` says why (:func:`arrears.auth.model.check_unmasked_output`).

    A case is left unplaced (listed in ``skipped`` with why) when the agency has no commission tier
    for its DPD, or when a hold the agency's recall rules name is in force (it would be recalled at
    once). The file carries unmasked personal data: building it writes an audit record.

    The agency must be in the register, active, under contract on ``on`` and not past its review date
    (:func:`arrears.escalation.register.placement_refusal`; else :class:`EscalationError`). An account
    is handed over only after the debtor was told: the first run queues the notice letter
    (``agency.notice``) and leaves the case unplaced; it is placed from the day the letter was sent plus
    the pack's ``agency_notice`` days (GB/T 45251—2025 §5.4, paraphrase; docs/compliance.md)."""
    reason = check_unmasked_output("agency_placement", role=role, reason=reason)
    refusal = placement_refusal(session, agency.code, on)
    if refusal is not None:
        raise EscalationError(f"no placement with agency {agency.code} on {on.isoformat()}: {refusal}")
    registered = session.get(CollectionAgency, agency.code)
    assert registered is not None
    wait = notice_days()
    todo = repo.cases_to_place(session)
    holds = repo.holds_in_force(session, [c.account_id for c in todo], on)
    contacts = repo.debtor_contacts(session, sorted({c.customer_id for c in todo}))
    placed: list[tuple[AgencyPlacement, Any]] = []
    skipped: list[tuple[int, str]] = []
    term_end = on + timedelta(days=agency.term_days)
    for c in todo:
        blocking = [k for k in agency.recall.holds if k in holds.get(c.account_id, ())]
        tier = agency.tier_for(c.dpd)
        if blocking:
            skipped.append((c.case_id, f"hold {blocking[0]} in force"))
            continue
        if tier is None:
            skipped.append((c.case_id, f"DPD {c.dpd} is outside agency {agency.code}'s commission tiers"))
            continue
        told = notice_state(session, case_id=c.case_id, customer_id=c.customer_id, agency=registered, days=wait,
                            actor=actor)
        if told.place_from is None:
            skipped.append((c.case_id, "waiting for the notice to the debtor to be sent"))
            continue
        if on < told.place_from:
            skipped.append((c.case_id, f"the notice to the debtor was sent on {told.sent_on}; "
                                       f"placement from {told.place_from}"))
            continue
        p = AgencyPlacement(case_id=c.case_id, account_id=c.account_id, agency=agency.code, placed_on=on,
                            balance=max(0, c.balance), dpd=c.dpd, rate_bp=tier.rate_bp,
                            terms=agency.terms_snapshot(c.dpd), term_end=term_end, status="placed",
                            file_sha256="", created_by=actor, created_at=utc_now())
        session.add(p)
        placed.append((p, c))
    session.flush()
    content = csv_bytes(PLACEMENT_COLUMNS, (
        (p.id, c.account_ref, c.customer_name, contacts.get(c.customer_id, {}).get("phone"),
         contacts.get(c.customer_id, {}).get("address"), p.balance, p.dpd, p.rate_bp, p.placed_on, p.term_end)
        for p, c in placed))
    digest = sha256_hex(content)
    for p, _ in placed:
        p.file_sha256 = digest
    manifest = {"kind": "agency_placement", "agency": agency.code, "business_date": on.isoformat(),
                "rows": len(placed), "total_balance_fen": sum(p.balance for p, _ in placed), "sha256": digest}
    record(session, actor=actor, action="agency.placement_file", entity="agency", entity_id=agency.code,
           detail={"business_date": on, "accounts": len(placed), "total_balance_fen": manifest["total_balance_fen"],
                   "sha256": digest, "personal_data": "unmasked", "skipped": len(skipped), "role": role,
                   "reason": reason})
    session.flush()
    return FileOut(content=content, manifest=manifest, skipped=tuple(skipped))


# -- recall ---------------------------------------------------------------------------------------

def recall_placements(session: Session, *, agencies: Agencies, on: date, actor: str,
                      agency: str | None = None) -> FileOut:
    """Recall every live placement (of ``agency``, or of all) that its agency's rules recall on ``on``;
    the case goes back to ``follow_up`` where it is still in ``agency_placement``."""
    if agency is not None:
        agencies.get(agency)
    live = repo.live_placements(session, agency)
    for p, _, _ in live:
        agencies.get(p.agency)  # every placed agency must still be in the file
    holds = repo.holds_in_force(session, sorted({p.account_id for p, _, _ in live}), on)
    paid = repo.paid_since_placement(session, [p.id for p, _, _ in live], on)
    recalled: list[tuple[AgencyPlacement, str]] = []
    for p, case_status, account_ref in live:
        reason = recall_reason(rules=agencies.get(p.agency).recall, on=on, term_end=p.term_end,
                               case_status=case_status, hold_kinds=holds.get(p.account_id, ()),
                               placement_balance=p.balance, paid_since_placement=paid.get(p.id, 0))
        if reason is None:
            continue
        p.status, p.recalled_on, p.recall_reason = "recalled", on, reason
        if case_status == "agency_placement" and can_transition(case_status, "follow_up"):
            transition(session, case_id=p.case_id, to_state="follow_up", actor=actor,
                       reason=f"recalled from agency {p.agency} (placement {p.id}): {reason}")
        recalled.append((p, account_ref))
    session.flush()
    content = csv_bytes(RECALL_COLUMNS, ((p.id, p.agency, ref, p.placed_on, p.recalled_on, p.recall_reason)
                                         for p, ref in recalled))
    digest = sha256_hex(content)
    manifest = {"kind": "agency_recall", "agency": agency, "business_date": on.isoformat(), "rows": len(recalled),
                "total_balance_fen": sum(p.balance for p, _ in recalled), "sha256": digest}
    record(session, actor=actor, action="agency.recall_file", entity="agency", entity_id=agency or "all",
           detail={"business_date": on, "placements": [p.id for p, _ in recalled], "sha256": digest})
    return FileOut(content=content, manifest=manifest)


# -- collections ----------------------------------------------------------------------------------

@dataclass
class CollectionsLoaded:
    file: str
    sha256: str
    rows: int = 0
    loaded: int = 0
    already: int = 0
    amount: int = 0
    commission: int = 0


def _row_date(text: str, *, file: str, row: int, column: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise FileRejected(f"{text!r} is not a date (YYYY-MM-DD)", file=file, row=row, column=column) from None


def _row_int(text: str, *, file: str, row: int, column: str, minimum: int) -> int:
    if not text.isascii() or not text.isdigit():
        raise FileRejected(f"{text!r} is not a whole number", file=file, row=row, column=column)
    value = int(text)
    if value < minimum:
        raise FileRejected(f"must be >= {minimum}, got {value}", file=file, row=row, column=column)
    return value


def load_collections(session: Session, *, agency: Agency, path: str | Path, actor: str) -> CollectionsLoaded:
    """Load an agency's collections report (CSV; docs/escalation.md), all or nothing.

    Every row is checked before anything is written; the first bad one rejects the whole file
    (:class:`FileRejected` naming file, row — header = row 1 — and column). A row whose
    ``collection_ref`` the agency has already reported with the same values is skipped, so loading a
    file again adds nothing; the same ref with other values rejects the file."""
    file = str(path)
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise FileRejected(f"cannot read the file: {exc.strerror or exc}", file=file) from exc
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise FileRejected("not UTF-8 text", file=file) from None
    result = CollectionsLoaded(file=file, sha256=sha256_hex(raw))
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, None)
    if header is None:
        raise FileRejected("the file is empty; expected a header row", file=file, row=1)
    header = [h.strip() for h in header]
    for name in header:
        if name not in COLLECTION_COLUMNS:
            raise FileRejected(f"unknown column (columns: {', '.join(COLLECTION_COLUMNS)})", file=file, row=1,
                               column=name)
    for name in COLLECTION_COLUMNS:
        if name not in header:
            raise FileRejected("missing column", file=file, row=1, column=name)
    if len(set(header)) != len(header):
        raise FileRejected("a column appears twice", file=file, row=1)
    parsed: list[tuple[int, str, int, str, date, int]] = []
    seen: dict[str, int] = {}
    for number, values in enumerate(reader, start=2):
        if not values or all(not v.strip() for v in values):
            continue
        if len(values) != len(header):
            raise FileRejected(f"{len(values)} fields, expected {len(header)}", file=file, row=number)
        row = {k: v.strip() for k, v in zip(header, values)}
        ref = row["collection_ref"]
        if not ref or len(ref) > 64:
            raise FileRejected("must be 1 to 64 characters", file=file, row=number, column="collection_ref")
        if ref in seen:
            raise FileRejected(f"collection_ref {ref!r} already on row {seen[ref]}", file=file, row=number,
                               column="collection_ref")
        seen[ref] = number
        placement_id = _row_int(row["placement_id"], file=file, row=number, column="placement_id", minimum=1)
        value_date = _row_date(row["value_date"], file=file, row=number, column="value_date")
        amount = _row_int(row["amount_fen"], file=file, row=number, column="amount_fen", minimum=1)
        parsed.append((number, ref, placement_id, row["account_ref"], value_date, amount))
    placements = repo.placements_by_id(session, sorted({p[2] for p in parsed}))
    before = repo.collections_by_ref(session, agency.code, [p[1] for p in parsed])
    rows: list[AgencyCollection] = []
    for number, ref, placement_id, account_ref, value_date, amount in parsed:
        found = placements.get(placement_id)
        if found is None or found[0].agency != agency.code:
            raise FileRejected(f"placement {placement_id} is not a placement with agency {agency.code}", file=file,
                               row=number, column="placement_id")
        p, real_ref = found
        if account_ref != real_ref:
            raise FileRejected(f"placement {placement_id} is account {real_ref}, not {account_ref!r}", file=file,
                               row=number, column="account_ref")
        if value_date < p.placed_on:
            raise FileRejected(f"{value_date} is before the account was placed ({p.placed_on})", file=file,
                               row=number, column="value_date")
        if p.recalled_on is not None and value_date > p.recalled_on:
            raise FileRejected(f"{value_date} is after the account was recalled ({p.recalled_on})", file=file,
                               row=number, column="value_date")
        old = before.get(ref)
        if old is not None:
            if (old.placement_id, old.value_date, old.amount) != (placement_id, value_date, amount):
                raise FileRejected(f"collection_ref {ref!r} was loaded before with other values (placement "
                                   f"{old.placement_id}, {old.value_date}, {old.amount} fen)", file=file,
                                   row=number, column="collection_ref")
            result.already += 1
            continue
        fee = commission(amount, p.rate_bp)
        rows.append(AgencyCollection(placement_id=p.id, agency=agency.code, collection_ref=ref, value_date=value_date,
                                     amount=amount, rate_bp=p.rate_bp, commission=fee, source_file=Path(file).name,
                                     source_row=number, file_sha256=result.sha256, created_by=actor,
                                     created_at=utc_now()))
        result.amount += amount
        result.commission += fee
    result.rows = len(parsed)
    result.loaded = len(rows)
    session.add_all(rows)
    session.flush()
    record(session, actor=actor, action="agency.collections_loaded", entity="agency", entity_id=agency.code,
           detail={"file": Path(file).name, "sha256": result.sha256, "rows": result.rows, "loaded": result.loaded,
                   "already": result.already, "amount_fen": result.amount, "commission_fen": result.commission})
    return result


# -- legal review ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class QueueRow:
    case_id: int
    account_ref: str
    since: date | None
    days_waiting: int | None
    balance: int
    dpd: int
    referral: str | None


def legal_queue(session: Session, *, on: date) -> list[QueueRow]:
    """Cases in legal_review, longest waiting first (then by case id)."""
    rows = repo.legal_queue(session)
    entered = repo.entered_state_on(session, [r[0] for r in rows], "legal_review")
    out = []
    for case_id, ref, balance, dpd, referral in rows:
        since = business_date_of(entered[case_id]) if case_id in entered else None
        out.append(QueueRow(case_id, ref, since, (on - since).days if since else None, int(balance), dpd, referral))
    return sorted(out, key=lambda r: (-(r.days_waiting or 0), r.case_id))


def _referral(session: Session, case_id: int) -> LegalReferral:
    """The case's live referral, or a new pending one dated the day it entered legal_review."""
    live = repo.live_referral(session, case_id)
    if live is not None:
        return live
    entered = repo.entered_state_on(session, [case_id], "legal_review").get(case_id)
    referral = LegalReferral(case_id=case_id, referred_on=business_date_of(entered or utc_now()), status="pending",
                             created_at=utc_now())
    session.add(referral)
    session.flush()
    return referral


def _require_legal_review(session: Session, case_id: int) -> Any:
    case = repo.get_case(session, case_id, for_update=True)
    if case.status != "legal_review":
        raise EscalationError(f"case {case_id} is {case.status!r}, not in legal_review")
    return case


#: Columns never written into a bundle: binary copies (added as files) and secrets.
_BUNDLE_SKIP = {"pdf", "code_hash", "terms_text", "ingest_run_id"}


def _table_csv(session: Session, table: Any, *where: Any, order_by: Sequence[Any],
               clean: Any = None) -> tuple[bytes, list[dict[str, Any]]]:
    rows = repo.table_rows(session, table.__table__, *where, order_by=order_by)
    if clean is not None:
        rows = [clean(dict(r)) for r in rows]
    columns = [c.name for c in table.__table__.columns if c.name not in _BUNDLE_SKIP]
    return csv_bytes(columns, ([r[c] for c in columns] for r in rows)), rows


def _message_clean(row: dict[str, Any]) -> dict[str, Any]:
    # A confirmation SMS's payload holds the one-time code: it never leaves the store.
    payload = row.get("payload")
    if isinstance(payload, dict):
        row["payload"] = {k: v for k, v in payload.items() if k != "code"}
    return row


def deterministic_zip(files: dict[str, bytes]) -> bytes:
    """A zip of ``files`` (name → bytes) in name order, every member with the same fixed timestamp
    and attributes: the same files give the same bytes."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        for name in sorted(files):
            info = zipfile.ZipInfo(name, date_time=ZIP_EPOCH)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3
            info.external_attr = 0o100644 << 16
            zf.writestr(info, files[name])
    return buf.getvalue()


@dataclass(frozen=True)
class Bundle:
    content: bytes
    sha256: str
    manifest: dict[str, Any]


def build_bundle(session: Session, *, case_id: int, actor: str, role: str, reason: str) -> Bundle:
    """The legal bundle of a case in legal_review: one zip (see docs/escalation.md) with the ledger,
    agreements, contact history and case history, and ``manifest.json`` listing every other file with
    its sha256. Built deterministically; the unmasked read is audited and the referral keeps the
    bundle's sha256. ``role`` must be one the masking policy lets unmask every kind of personal data in
    the bundle, and ``reason`` says why (:func:`arrears.auth.model.check_unmasked_output`)."""
    reason = check_unmasked_output("legal_bundle", role=role, reason=reason)
    case = _require_legal_review(session, case_id)
    referral = _referral(session, case.id)
    account = session.get(Account, case.account_id)
    assert account is not None
    customer = session.get(Customer, account.customer_id)
    assert customer is not None
    points = repo.table_rows(session, ContactPoint.__table__, ContactPoint.customer_id == customer.id,
                             order_by=[ContactPoint.id])
    files: dict[str, bytes] = {}
    files["account.json"] = (json.dumps({
        "account": {"id": account.id, "account_ref": account.account_ref, "product": account.product,
                    "credit_limit_fen": account.credit_limit, "currency": account.currency, "status": account.status,
                    "opened_on": account.opened_on.isoformat()},
        "customer": {"customer_ref": customer.customer_ref, "name": customer.name, "national_id": customer.national_id,
                     "birth_date": customer.birth_date.isoformat()},
        "contact_points": [{k: _cell(p[k]) for k in ("contact_ref", "kind", "value", "owner", "relation", "verified",
                                                      "opted_out")} for p in points],
        "case": {"id": case.id, "status": case.status, "opened_on": case.opened_on.isoformat(), "bucket": case.bucket,
                 "dpd": case.dpd, "balance_fen": case.balance},
    }, ensure_ascii=False, indent=2, sort_keys=True) + "\n").encode("utf-8")
    files["statements.csv"], _ = _table_csv(session, Statement, Statement.account_id == account.id,
                                            order_by=[Statement.statement_date, Statement.id])
    files["payments.csv"], _ = _table_csv(session, Payment, Payment.account_id == account.id,
                                          order_by=[Payment.value_date, Payment.id])
    files["agreements.csv"], agreements = _table_csv(session, PlanAgreement, PlanAgreement.case_id == case.id,
                                                     order_by=[PlanAgreement.version, PlanAgreement.id])
    ids = [a["id"] for a in agreements]
    files["instalments.csv"], _ = _table_csv(session, PlanInstalment, PlanInstalment.agreement_id.in_(ids),
                                             order_by=[PlanInstalment.agreement_id, PlanInstalment.number])
    for a in agreements:
        stem = f"agreements/agreement-{a['id']}-v{a['version']}"
        files[f"{stem}.txt"] = a["terms_text"].encode("utf-8")
        if a["pdf"]:
            files[f"{stem}.pdf"] = bytes(a["pdf"])
    files["interactions.csv"], _ = _table_csv(session, Interaction, Interaction.case_id == case.id,
                                              order_by=[Interaction.started_at, Interaction.id])
    files["contact_decisions.csv"], _ = _table_csv(session, ContactDecision, ContactDecision.case_id == case.id,
                                                   order_by=[ContactDecision.at, ContactDecision.id])
    files["messages.csv"], _ = _table_csv(session, OutboxMessage, OutboxMessage.case_id == case.id,
                                          order_by=[OutboxMessage.created_at, OutboxMessage.id], clean=_message_clean)
    files["transitions.csv"], _ = _table_csv(session, CaseTransition, CaseTransition.case_id == case.id,
                                             order_by=[CaseTransition.at, CaseTransition.id])
    files["promises.csv"], _ = _table_csv(session, Promise, Promise.case_id == case.id,
                                          order_by=[Promise.created_at, Promise.id])
    files["tasks.csv"], _ = _table_csv(session, Task, Task.case_id == case.id, order_by=[Task.due_on, Task.id])
    manifest = {
        "case_id": case.id, "account_id": account.id, "account_ref": account.account_ref,
        "referral_id": referral.id, "referred_on": referral.referred_on.isoformat(),
        "files": [{"name": name, "sha256": sha256_hex(files[name]), "bytes": len(files[name])} for name in sorted(files)],
    }
    files["manifest.json"] = (json.dumps(manifest, ensure_ascii=False, indent=2, sort_keys=True) + "\n").encode()
    content = deterministic_zip(files)
    digest = sha256_hex(content)
    referral.bundle_sha256 = digest
    record(session, actor=actor, action="legal.bundle_built", entity="case", entity_id=case.id,
           detail={"referral_id": referral.id, "sha256": digest, "files": len(files), "personal_data": "unmasked",
                   "role": role, "reason": reason})
    session.flush()
    return Bundle(content=content, sha256=digest, manifest=manifest)


def _refuse_time_barred(session: Session, account_id: int) -> None:
    """No suit on a time-barred debt (12 CFR 1006.26(b)): from the account's limitation date on (the
    bank's calendar), a legal referral may not proceed (:mod:`arrears.contact.regf`)."""
    today = utc_now().astimezone(zone(get_settings().timezone)).date()
    barred = regulation_f.time_barred(session, account_id, today)
    if barred is not None:
        raise EscalationError(f"time_barred_debt (12 CFR 1006.26(b)): the debt is time-barred since "
                              f"{barred.isoformat()}; no suit and no threat of suit")


def decide(session: Session, *, case_id: int, decision: str, note: str, by: str) -> LegalReferral:
    """Record a legal decision on a case in legal_review and move the case (docs/escalation.md):
    proceed (stays in legal_review), return / withdraw (back to follow_up)."""
    if not note or not note.strip():
        raise ArrearsError("a legal decision needs a note")
    if not by or not by.strip():
        raise ArrearsError("a legal decision needs the name of who decided (--by)")
    case = _require_legal_review(session, case_id)
    referral = _referral(session, case.id)
    status = check_decision(referral.status, decision)
    if decision == "proceed":
        _refuse_time_barred(session, case.account_id)
    target = DECISION_MOVES[decision]
    if target is not None:
        check_transition(case.status, target)
    referral.status, referral.decided_by, referral.decided_at, referral.decision_note = status, by[:64], utc_now(), note
    session.flush()
    if target is not None:
        transition(session, case_id=case.id, to_state=target, actor=by[:64],
                   reason=f"legal referral {referral.id} {status}: {note}")
    record(session, actor=by[:64], action=f"legal.{status}", entity="case", entity_id=case.id,
           detail={"referral_id": referral.id, "note": note, "moved_to": target})
    return referral


# -- charge-off -----------------------------------------------------------------------------------

def approve_charge_off(session: Session, *, case_id: int, by: str, on: date, reason: str | None = None) -> ChargeOff:
    """Approve the charge-off an open ``charge_off`` task asks for: record the balance and DPD, close
    the task, move the case to charged_off. An account is charged off once."""
    if not by or not by.strip():
        raise ArrearsError("a charge-off needs the name of who approved it (--by)")
    case = repo.get_case(session, case_id, for_update=True)
    previous = repo.charge_off_of(session, case.account_id)
    if previous is not None:
        raise EscalationError(f"the account of case {case_id} was charged off on {previous.charged_off_on} "
                              f"(charge-off {previous.id}); an account is charged off once")
    task = repo.open_task(session, case.id, "charge_off")
    if task is None:
        raise EscalationError(f"case {case_id} has no open charge_off task: a charge-off is approved when a "
                              "charge_off task asks for it")
    check_transition(case.status, "charged_off")
    row = ChargeOff(case_id=case.id, account_id=case.account_id, charged_off_on=on, balance=max(0, case.balance),
                    dpd=case.dpd, task_id=task.id, requested_by=task.created_by[:64], approved_by=by[:64],
                    reason=reason or f"charge_off task {task.id}", created_at=utc_now())
    session.add(row)
    task.status = "done"
    session.flush()
    transition(session, case_id=case.id, to_state="charged_off", actor=by[:64],
               reason=f"charge-off {row.id} approved: balance {row.balance} fen, DPD {row.dpd}")
    record(session, actor=by[:64], action="case.charged_off", entity="case", entity_id=case.id,
           detail={"charge_off_id": row.id, "account_id": case.account_id, "charged_off_on": on,
                   "balance_fen": row.balance, "dpd": row.dpd, "task_id": task.id})
    return row


# -- recoveries -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class RecoveryLine:
    charge_off_month: str
    channel: str
    items: int
    gross: int
    commission: int

    @property
    def net(self) -> int:
        return self.gross - self.commission


@dataclass
class RecoveriesReport:
    first: date
    last: date
    lines: list[RecoveryLine] = field(default_factory=list)

    def total(self, channel: str | None = None) -> tuple[int, int, int]:
        """(gross, commission, net) over the lines of ``channel`` (all when None)."""
        lines = [x for x in self.lines if channel is None or x.channel == channel]
        gross, comm = sum(x.gross for x in lines), sum(x.commission for x in lines)
        return gross, comm, gross - comm


def recoveries_report(session: Session, *, first: date, last: date) -> RecoveriesReport:
    """Money recovered after charge-off with value dates ``first``..``last``, by charge-off month and
    channel (direct payments; agency collections, net of commission)."""
    if last < first:
        raise ArrearsError(f"--to {last} is before --from {first}")
    report = RecoveriesReport(first=first, last=last)
    for year, month, channel, items, gross, comm in repo.recoveries(session, first=first, last=last):
        report.lines.append(RecoveryLine(f"{year:04d}-{month:02d}", channel, items, gross, comm))
    return report
