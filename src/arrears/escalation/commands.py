"""``arrears agency``, ``arrears legal``, ``arrears chargeoff`` and ``arrears recoveries``: the end
states of the collections process. File formats: docs/escalation.md."""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from arrears.kit.cli import cli_actor, store_engine
from arrears.kit.db import transaction, write_first
from arrears.kit.errors import ArrearsError
from arrears.kit.money import format_yuan

agency_app = typer.Typer(help="Collection agencies: placement, recall and collections files.", no_args_is_help=True)
legal_app = typer.Typer(help="Legal review: the queue, the case bundle, decisions.", no_args_is_help=True)
chargeoff_app = typer.Typer(help="Charge-off approval.", no_args_is_help=True)
recoveries_app = typer.Typer(help="Recoveries after charge-off.", no_args_is_help=True)

_err = Console(stderr=True)

AgenciesOpt = Annotated[Path, typer.Option("--agencies", envvar="ARREARS_AGENCIES_FILE",
                                           help="The agencies file (YAML; see examples/agencies.yaml).")]
DateOpt = Annotated[datetime, typer.Option("--date", formats=["%Y-%m-%d"], help="Business date, YYYY-MM-DD.")]
ReasonOpt = Annotated[str, typer.Option("--reason", help="Why the file with unmasked personal data is needed "
                                                          "(kept in the audit log).")]
#: The command line runs with the store's own credentials: the masking policy treats it as an
#: administrator, and every unmasked file it writes still needs a reason (docs/security.md).
CLI_ROLE = "admin"
OptionalDate = Annotated[datetime | None, typer.Option("--date", formats=["%Y-%m-%d"],
                                                       help="Business date, YYYY-MM-DD (default: today).")]


def _fail(exc: ArrearsError | str) -> typer.Exit:
    _err.print(f"[red]error:[/red] {exc}", soft_wrap=True)
    return typer.Exit(1)


def _today(value: datetime | None) -> date:
    if value is not None:
        return value.date()
    from arrears.cases.service import business_date_of
    from arrears.kit.clock import utc_now

    return business_date_of(utc_now())


def _write(out: Path, content: bytes, manifest: dict[str, Any] | None = None) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(content)
    if manifest is not None:
        Path(f"{out}.manifest.json").write_text(
            json.dumps({"file": out.name, **manifest}, ensure_ascii=False, indent=2, sort_keys=True) + "\n",
            encoding="utf-8")


# -- agency -----------------------------------------------------------------------------------------

@agency_app.command("place")
def place(
    agency: Annotated[str, typer.Option("--agency", help="Agency code (from the agencies file).")],
    business_date: DateOpt,
    out: Annotated[Path, typer.Option("--out", help="Placement CSV to write; its manifest goes to FILE.manifest.json.")],
    agencies: AgenciesOpt,
    reason: ReasonOpt,
) -> None:
    """Place every case in agency_placement without a live placement with the agency (one transaction)
    and write the agency's placement file. The file carries unmasked personal data (audited, with the
    reason)."""
    from arrears.escalation import service
    from arrears.escalation.config import load_agencies

    try:
        chosen = load_agencies(agencies).get(agency)
        with transaction(write_first(store_engine())) as session:
            result = service.place_accounts(session, agency=chosen, on=business_date.date(), actor=cli_actor(),
                                            role=CLI_ROLE, reason=reason)
            _write(out, result.content, result.manifest)
    except ArrearsError as exc:
        raise _fail(exc) from exc
    console = Console()
    console.print(f"{result.rows:,} account(s) placed with {agency}, balance {format_yuan(result.manifest['total_balance_fen'])}"
                  f" CNY: {out} (sha256 {result.manifest['sha256']})", soft_wrap=True)
    for case_id, why in result.skipped:
        console.print(f"  case {case_id} not placed: {why}", soft_wrap=True)


@agency_app.command("recall")
def recall(
    business_date: DateOpt,
    out: Annotated[Path, typer.Option("--out", help="Recall CSV to write; its manifest goes to FILE.manifest.json.")],
    agencies: AgenciesOpt,
    agency: Annotated[str | None, typer.Option("--agency", help="Only this agency's placements.")] = None,
) -> None:
    """Recall every live placement the agencies' recall rules recall on the date (one transaction);
    cases go back to follow_up; write the recall file."""
    from arrears.escalation import service
    from arrears.escalation.config import load_agencies

    try:
        rules = load_agencies(agencies)
        with transaction(write_first(store_engine())) as session:
            result = service.recall_placements(session, agencies=rules, on=business_date.date(), actor=cli_actor(),
                                               agency=agency)
            _write(out, result.content, result.manifest)
    except ArrearsError as exc:
        raise _fail(exc) from exc
    Console().print(f"{result.rows:,} placement(s) recalled: {out} (sha256 {result.manifest['sha256']})", soft_wrap=True)


@agency_app.command("collections")
def collections(
    file: Annotated[Path, typer.Argument(help="The agency's collections report (CSV; docs/escalation.md).")],
    agency: Annotated[str, typer.Option("--agency", help="Agency code (from the agencies file).")],
    agencies: AgenciesOpt,
) -> None:
    """Load what the agency collected, with its commission; all or nothing, and loading the same rows
    again adds nothing."""
    from arrears.escalation import service
    from arrears.escalation.config import load_agencies

    try:
        chosen = load_agencies(agencies).get(agency)
        with transaction(write_first(store_engine())) as session:
            r = service.load_collections(session, agency=chosen, path=file, actor=cli_actor())
    except ArrearsError as exc:
        raise _fail(exc) from exc
    Console().print(f"{file}: {r.rows:,} row(s), {r.loaded:,} loaded, {r.already:,} already loaded; collected "
                    f"{format_yuan(r.amount)} CNY, commission {format_yuan(r.commission)} CNY.", soft_wrap=True)


# -- legal ------------------------------------------------------------------------------------------

@legal_app.command("queue")
def legal_queue(business_date: OptionalDate = None) -> None:
    """Cases in legal review, longest waiting first: days waiting, balance, DPD, referral status."""
    from arrears.escalation import service

    day = _today(business_date)
    with transaction(store_engine()) as session:
        rows = service.legal_queue(session, on=day)
    table = Table("case", "account", "in legal review since", "days waiting", "balance (CNY)", "dpd", "referral",
                  title=f"Legal review queue on {day.isoformat()}")
    for r in rows:
        table.add_row(str(r.case_id), r.account_ref, r.since.isoformat() if r.since else "-",
                      str(r.days_waiting) if r.days_waiting is not None else "-", format_yuan(r.balance), str(r.dpd),
                      r.referral or "not yet referred")
    Console().print(table)
    Console().print(f"{len(rows):,} case(s) in legal review.")


@legal_app.command("bundle")
def legal_bundle(
    case: Annotated[int, typer.Option("--case", min=1, help="Case id.")],
    out: Annotated[Path, typer.Option("--out", help="Zip archive to write.")],
    reason: ReasonOpt,
) -> None:
    """Build the case's legal bundle: one zip with the ledger, agreements, contact and case history and
    a manifest of sha256 digests (same data, same bytes). The unmasked read is audited."""
    from arrears.escalation import service

    try:
        with transaction(write_first(store_engine())) as session:
            bundle = service.build_bundle(session, case_id=case, actor=cli_actor(), role=CLI_ROLE, reason=reason)
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_bytes(bundle.content)
    except ArrearsError as exc:
        raise _fail(exc) from exc
    Console().print(f"Bundle of case {case}: {out}, {len(bundle.manifest['files']) + 1} files, sha256 {bundle.sha256}",
                    soft_wrap=True)


@legal_app.command("decide")
def legal_decide(
    case: Annotated[int, typer.Option("--case", min=1, help="Case id.")],
    decision: Annotated[str, typer.Option("--decision", help="proceed, return or withdraw.")],
    note: Annotated[str, typer.Option("--note", help="Why.")],
    by: Annotated[str, typer.Option("--by", help="Who decided.")],
) -> None:
    """Record the legal decision: proceed (case stays in legal review), return or withdraw (case back to
    follow_up)."""
    from arrears.escalation import service

    try:
        with transaction(write_first(store_engine())) as session:
            referral = service.decide(session, case_id=case, decision=decision, note=note, by=by)
            status = referral.status
    except ArrearsError as exc:
        raise _fail(exc) from exc
    Console().print(f"Case {case}: legal referral {status}.")


# -- charge-off and recoveries ----------------------------------------------------------------------

@chargeoff_app.command("approve")
def chargeoff_approve(
    case: Annotated[int, typer.Option("--case", min=1, help="Case id.")],
    by: Annotated[str, typer.Option("--by", help="Who approved the charge-off.")],
    business_date: OptionalDate = None,
    reason: Annotated[str | None, typer.Option("--reason", help="Why (default: the task that asked).")] = None,
) -> None:
    """Approve the charge-off a charge_off task asks for: balance recorded, case to charged_off."""
    from arrears.escalation import service

    try:
        with transaction(write_first(store_engine())) as session:
            row = service.approve_charge_off(session, case_id=case, by=by, on=_today(business_date), reason=reason)
            summary = (row.id, row.charged_off_on, row.balance)
    except ArrearsError as exc:
        raise _fail(exc) from exc
    Console().print(f"Case {case} charged off on {summary[1]} (charge-off {summary[0]}), balance "
                    f"{format_yuan(summary[2])} CNY.")


@recoveries_app.command("report")
def recoveries_report(
    first: Annotated[datetime, typer.Option("--from", formats=["%Y-%m-%d"], help="First value date.")],
    last: Annotated[datetime, typer.Option("--to", formats=["%Y-%m-%d"], help="Last value date (inclusive).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON (fen integers) instead of a table.")] = False,
) -> None:
    """Money recovered after charge-off, by charge-off month and channel (agency net of commission)."""
    from arrears.escalation import service

    try:
        with transaction(store_engine()) as session:
            report = service.recoveries_report(session, first=first.date(), last=last.date())
    except ArrearsError as exc:
        raise _fail(exc) from exc
    if as_json:
        typer.echo(json.dumps({
            "from": report.first.isoformat(), "to": report.last.isoformat(),
            "lines": [{"charge_off_month": x.charge_off_month, "channel": x.channel, "items": x.items,
                       "gross_fen": x.gross, "commission_fen": x.commission, "net_fen": x.net} for x in report.lines],
            "total": dict(zip(("gross_fen", "commission_fen", "net_fen"), report.total())),
        }, ensure_ascii=False, indent=2))
        return
    table = Table("charge-off month", "channel", "items", "gross (CNY)", "commission (CNY)", "net (CNY)",
                  title=f"Recoveries valued {report.first.isoformat()} to {report.last.isoformat()}")
    for x in report.lines:
        table.add_row(x.charge_off_month, x.channel, f"{x.items:,}", format_yuan(x.gross), format_yuan(x.commission),
                      format_yuan(x.net))
    for channel in ("direct", "agency", None):
        gross, comm, net = report.total(channel)
        table.add_row("total", channel or "all", "", format_yuan(gross), format_yuan(comm), format_yuan(net),
                      style="bold")
    Console().print(table)
