"""The ``arrears`` command line."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from arrears.accounts.commands import ingest as ingest_command
from arrears.auth.commands import audit_app, users_app
from arrears.batch.spark_commands import spark_app
from arrears.cases.commands import queue_app
from arrears.channels.commands import worker as worker_command
from arrears.complaints.commands import complaints_app
from arrears.config import get_settings
from arrears.contact.commands import contact_app
from arrears.contact.policy_commands import policy_app
from arrears.contact.regf_commands import regf_app
from arrears.dialler.commands import dialler_app
from arrears.escalation.commands import agency_app, chargeoff_app, legal_app, recoveries_app
from arrears.kit.cli import store_engine
from arrears.kit.clock import utc_now
from arrears.kit.errors import ArrearsError
from arrears.kit.money import format_yuan
from arrears.payments.commands import payments_app
from arrears.plans.commands import plans_app
from arrears.portal.commands import portal_app
from arrears.reports.commands import report_app
from arrears.retention.commands import retention_app
from arrears.score.commands import score_app
from arrears.sim.commands import simulate as simulate_command
from arrears.strategy.commands import strategy_app
from arrears.web_commands import serve

app = typer.Typer(help="arrears — collections for credit-card arrears.", no_args_is_help=True)
sim_app = typer.Typer(help="Synthetic portfolios.", no_args_is_help=True)
export_app = typer.Typer(help="Export results as files.", no_args_is_help=True)
app.add_typer(sim_app, name="sim")
app.add_typer(export_app, name="export")
app.add_typer(users_app, name="users")
app.add_typer(audit_app, name="audit")
app.add_typer(queue_app, name="queue")
app.add_typer(plans_app, name="plans")
app.add_typer(score_app, name="score")
app.add_typer(strategy_app, name="strategy")
app.add_typer(contact_app, name="contact")
app.add_typer(policy_app, name="policy")
app.add_typer(regf_app, name="regf")
app.add_typer(spark_app, name="spark")
app.add_typer(portal_app, name="portal")
app.add_typer(payments_app, name="payments")
app.add_typer(dialler_app, name="dialler")
app.add_typer(agency_app, name="agency")
app.add_typer(legal_app, name="legal")
app.add_typer(chargeoff_app, name="chargeoff")
app.add_typer(recoveries_app, name="recoveries")
app.add_typer(report_app, name="report")
app.add_typer(complaints_app, name="complaints")
app.add_typer(retention_app, name="retention")
app.command("worker", help="Deliver the outbox: SMS, e-mail and letters, with retries and backoff.")(worker_command)
app.command("simulate")(simulate_command)
app.command("serve", help="Serve the REST API (OpenAPI docs at /docs).")(serve)
app.command("ingest", help="Load the bank's files (CSV or Parquet; a folder loads every file in order).")(
    ingest_command
)

console = Console()

DateOpt = Annotated[datetime, typer.Option("--date", formats=["%Y-%m-%d"], help="Business date, YYYY-MM-DD.")]


def _today() -> date:
    from arrears.cases.service import business_date_of

    return business_date_of(utc_now())


def _rules():  # type: ignore[no-untyped-def]
    from arrears.delinquency.config import load_rules
    from arrears.delinquency.model import DelinquencyRules

    path = get_settings().rules_file
    return load_rules(path) if path else DelinquencyRules()


def _progress() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description:<22}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=console,
    )


@app.command()
def init() -> None:
    """Create or upgrade the operational store (runs the migrations)."""
    engine = store_engine()
    console.print(f"Store ready: {engine.url.render_as_string(hide_password=True)}")


def _run_cycle(engine, business_date: date):  # type: ignore[no-untyped-def]
    from arrears.batch.cycle import STEPS, run_cycle

    with _progress() as progress:
        tasks = {s: progress.add_task(f"cycle: {s}", total=1) for s in STEPS}

        def tick(step: str, done: int, total: int) -> None:
            progress.update(tasks[step], completed=done, total=total)

        settings = get_settings()
        return run_cycle(engine, business_date=business_date, rules=_rules(), progress=tick,
                         threads=settings.batch_threads, memory_limit=settings.batch_memory_limit,
                         engine_name=settings.batch_engine)


def _print_summary(result) -> None:  # type: ignore[no-untyped-def]
    table = Table(title=f"Buckets on {result.business_date.isoformat()} (run {result.run_id})")
    for col in ("bucket", "accounts", "share", "amount past due (CNY)", "balance (CNY)"):
        table.add_column(col, justify="left" if col == "bucket" else "right")
    total = sum(line.accounts for line in result.summary) or 1
    for line in result.summary:
        table.add_row(line.bucket, f"{line.accounts:,}", f"{100 * line.accounts / total:.1f}%",
                      format_yuan(line.amount_past_due), format_yuan(line.balance))
    table.add_row("total", f"{sum(x.accounts for x in result.summary):,}", "100.0%",
                  format_yuan(sum(x.amount_past_due for x in result.summary)),
                  format_yuan(sum(x.balance for x in result.summary)), style="bold")
    console.print(table)
    restated = (f", restated {result.restated_accounts:,} accounts from {result.restated_from}"
                if result.restated_from else "")
    console.print(
        f"{result.delinquent_accounts:,} delinquent of {result.accounts:,} accounts; "
        f"{result.snapshots_written:,} snapshots written, {result.snapshots_superseded:,} superseded, "
        f"{result.bucket_changes_written:,} bucket changes; cases opened {result.cases_opened:,}, "
        f"closed {result.cases_closed:,}{restated}. ({result.timings['total']:.1f} s)"
    )


@app.command()
def cycle(
    business_date: DateOpt,
    strategy: Annotated[list[Path] | None, typer.Option(
        "--strategy", help="Strategy file; repeat for several (tried in order: the first that gives an account "
        "a segment treats it). Without one, no strategy step.")] = None,
    experiments: Annotated[Path | None, typer.Option(help="Champion/challenger experiments file.")] = None,
    model: Annotated[Path | None, typer.Option(help="Behaviour-score model directory: score every open case "
                                                      "first (needs --strategy).")] = None,
    engine_name: Annotated[str | None, typer.Option(
        "--engine", help="duckdb or spark: run the whole cycle file to file (needs --ledger, --out and "
        "--strategy; docs/operations.md) instead of on the store.")] = None,
    ledger: Annotated[Path | None, typer.Option(help="File cycle: folder of the bank's customers, accounts, "
                                                      "statements, payments and holds files.")] = None,
    out: Annotated[Path | None, typer.Option(help="File cycle: output folder (Parquet per business date).")] = None,
    state: Annotated[Path | None, typer.Option(help="File cycle: folder of the collections state (cases, "
                                                     "interactions, promises, plans, hold_reviews Parquet).")] = None,
    master: Annotated[str, typer.Option(help="File cycle on Spark: the master (local[N], spark://…, yarn, "
                                             "k8s://…).")] = "local[2]",
    retention: Annotated[bool, typer.Option("--retention", help="Then erase or anonymise what has passed its "
                                            "period in the retention schedule (docs/retention.md).")] = False,
) -> None:
    """Run the daily delinquency cycle for a business date and print the bucket summary; then give
    the new cases to teams by the assignment rules, run the strategy step (with --strategy), and judge
    the repayment plans on that date (each a transaction of its own).

    With --engine (and --ledger, --out): the whole cycle — delinquency, features, scoring,
    segmentation and treatment — file to file on DuckDB or Spark; the store is not touched."""
    from arrears.plans.commands import run_monitor

    if (experiments is not None or model is not None) and not strategy:
        console.print("[red]error:[/red] --experiments and --model need at least one --strategy file")
        raise typer.Exit(2)
    if engine_name is not None or ledger is not None or out is not None or state is not None:
        _file_cycle(business_date.date(), engine_name or "duckdb", ledger, out, state, strategy or [], experiments,
                    model, master)
        return
    engine = store_engine()
    try:
        result = _run_cycle(engine, business_date.date())  # new cases go to teams in the run's transaction
    except ArrearsError as exc:
        console.print(f"[red]error:[/red] {exc}", soft_wrap=True)
        raise typer.Exit(1) from exc
    _print_summary(result)
    if result.cases_assigned:
        console.print(f"Cases given to teams: {result.cases_assigned:,} (arrears queue show lists the teams).")
    if strategy:
        from arrears.strategy.step import run_strategy_step

        try:
            step = run_strategy_step(engine, business_date=business_date.date(), strategy_files=strategy,
                                     experiments_file=experiments, model_dir=model, actor="cycle",
                                     time_zone=get_settings().timezone)
        except ArrearsError as exc:
            console.print(f"[red]error:[/red] {exc}", soft_wrap=True)
            raise typer.Exit(1) from exc
        console.print(step.summary(), soft_wrap=True)
    plans = run_monitor(business_date.date())
    console.print(f"Plans: {plans['agreements']:,} active judged, {plans['missed']:,} instalments newly missed, "
                  f"{plans['reminders']:,} reminders, {len(plans['broken']):,} broken, "
                  f"{len(plans['completed']):,} completed.")
    from arrears.complaints.commands import escalate_due

    escalated = escalate_due(engine, business_date=business_date.date(), actor="cycle")
    console.print(f"Complaints past their deadline, escalated today: {len(escalated):,}.")
    if retention:  # personal data past its period, as of the business date (docs/retention.md)
        from arrears.retention.commands import print_report, run_on

        try:
            print_report(run_on(engine, as_of=business_date.date(), dry_run=False, actor="cycle"), console)
        except ArrearsError as exc:
            console.print(f"[red]error:[/red] retention: {exc}", soft_wrap=True)
            raise typer.Exit(1) from exc
    from arrears.auth.audit import checkpoint_file, checkpoint_if_configured

    try:  # the day's audit trail anchored outside the store (docs/security.md), when a key is configured
        checkpoint = checkpoint_if_configured(engine, actor="cycle")
    except ArrearsError as exc:
        console.print(f"[red]error:[/red] audit checkpoint: {exc}", soft_wrap=True)
        raise typer.Exit(1) from exc
    if checkpoint is not None:
        console.print(f"Audit checkpoint: the chain up to record {checkpoint.seq:,} signed into "
                      f"{checkpoint_file()}.")


def _file_cycle(day: date, engine_name: str, ledger: Path | None, out: Path | None, state: Path | None,
                strategy: list[Path], experiments: Path | None, model: Path | None, master: str) -> None:
    from arrears.batch.filecycle import run_file_cycle

    if ledger is None or out is None or not strategy:
        console.print("[red]error:[/red] the file cycle (--engine) needs --ledger, --out and at least one --strategy")
        raise typer.Exit(2)
    try:
        result = run_file_cycle(engine=engine_name, ledger_dir=ledger, out_dir=out, business_date=day,
                                strategy_files=strategy, rules=_rules(), experiments_file=experiments,
                                model_dir=model, state_dir=state, time_zone=get_settings().timezone, master=master)
    except ArrearsError as exc:
        console.print(f"[red]error:[/red] {exc}", soft_wrap=True)
        raise typer.Exit(1) from exc
    console.print(result.summary(), soft_wrap=True)
    console.print("Timings: " + ", ".join(f"{k} {v:.1f} s" for k, v in result.timings.items()) + ".")


@export_app.command("delinquency")
def export_delinquency(
    business_date: DateOpt,
    out: Annotated[Path | None, typer.Option(help="CSV file to write (default: stdout).")] = None,
) -> None:
    """Account id, DPD, bucket, cycles delinquent, amount past due and charge-off flag, as CSV."""
    from arrears.delinquency.export import export_delinquency as export

    engine = store_engine()
    try:
        if out is None:
            import sys

            n = export(engine, business_date=business_date.date(), rules=_rules(), stream=sys.stdout)
        else:
            out.parent.mkdir(parents=True, exist_ok=True)
            with out.open("w", encoding="utf-8", newline="") as fh:
                n = export(engine, business_date=business_date.date(), rules=_rules(), stream=fh)
            console.print(f"{n:,} accounts written to {out}")
    except ArrearsError as exc:
        console.print(f"[red]error:[/red] {exc}", soft_wrap=True)
        raise typer.Exit(1) from exc


@sim_app.command("portfolio")
def sim_portfolio(
    accounts: Annotated[int, typer.Option(min=1, help="Number of accounts.")] = 10_000,
    seed: Annotated[int, typer.Option(help="Random seed: same seed, same files.")] = 1,
    out: Annotated[Path, typer.Option(help="Folder to write the files to.")] = Path("var/portfolio"),
    as_of: Annotated[datetime | None, typer.Option(formats=["%Y-%m-%d"], help="Files end before this date.")] = None,
    months: Annotated[int, typer.Option(min=1, max=36, help="Statement cycles of history.")] = 6,
    fmt: Annotated[str, typer.Option("--format", help="csv or parquet.")] = "csv",
) -> None:
    """Write a synthetic portfolio in the bank's file formats."""
    _generate(out, accounts=accounts, seed=seed, as_of=as_of.date() if as_of else _today(), months=months, fmt=fmt)


def _generate(out: Path, *, accounts: int, seed: int, as_of: date, months: int, fmt: str) -> None:
    from arrears.sim.portfolio import generate_portfolio

    with _progress() as progress:
        tasks: dict[str, int] = {}

        def tick(kind: str, done: int, total: int) -> None:
            if kind not in tasks:
                tasks[kind] = progress.add_task(f"generate: {kind}", total=total)
            progress.update(tasks[kind], completed=done, total=total)

        summary = generate_portfolio(out, accounts=accounts, seed=seed, as_of=as_of, months=months, fmt=fmt,
                                     progress=tick)
    console.print(f"Portfolio written to {out}: {summary}")


@app.command()
def demo(
    accounts: Annotated[int, typer.Option(min=1, help="Accounts in the synthetic portfolio.")] = 5_000,
    days: Annotated[int, typer.Option(min=1, max=366, help="Days of simulated history before today.")] = 60,
    seed: Annotated[int, typer.Option(help="Random seed: same seed, same store.")] = 7,
    business_date: Annotated[datetime | None, typer.Option("--date", formats=["%Y-%m-%d"],
                                                           help="Today's business date (default: today).")] = None,
    folder: Annotated[Path, typer.Option(help="Where the demo keeps its files and store.")] = Path("var/demo"),
    serve_after: Annotated[bool, typer.Option("--serve/--no-serve", help="Serve the web UI and API once built "
                                                                          "(--no-serve: build, print, exit).")] = True,
    host: Annotated[str, typer.Option(help="Address to listen on (the demo is meant for this machine only).")]
    = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8000,
) -> None:
    """Build a demo store — a synthetic portfolio with DAYS days of simulated collections history —
    run today's cycle, print one demo user per role with their passwords, and serve the web UI."""
    day = business_date.date() if business_date else _today()
    if folder.exists():
        shutil.rmtree(folder)
    url = f"sqlite:///{folder / 'arrears.sqlite'}"
    with _demo_audit_key(folder):
        _build_demo(url, folder, day=day, accounts=accounts, days=days, seed=seed, host=host, port=port,
                    serve_after=serve_after)


def _build_demo(url: str, folder: Path, *, day: date, accounts: int, days: int, seed: int, host: str, port: int,
                serve_after: bool) -> None:
    from arrears.sim.history import BATCH_HOUR, bank_time, build_history, run_daily_batch

    engine = store_engine(url)
    console.print(f"Building the demo store: {accounts:,} accounts, {days} days of history before {day} "
                  f"(seed {seed}) in {folder}")
    try:
        with _progress() as progress:
            task = progress.add_task("simulated days", total=days)
            history = build_history(engine, folder / "files", accounts=accounts, days=days, end_date=day, seed=seed,
                                    rules=_rules(),
                                    progress=lambda _what, done, total: progress.update(task, completed=done,
                                                                                        total=total))
        console.print(history.summary(), soft_wrap=True)
        for line in history.errors[:5]:
            console.print(f"[yellow]a simulated call was refused:[/yellow] {line}", soft_wrap=True)
        # today's batch runs at the bank's batch hour, or now if that is still to come (between the
        # bank's midnight and its batch hour): never stamped in the future, so the audit checkpoint
        # written after it, at the real time, finds the chain in order
        at = max(bank_time(day, 0), min(bank_time(day, BATCH_HOUR), utc_now()))
        result = run_daily_batch(engine, day, rules=_rules(), at=at)
    except ArrearsError as exc:
        console.print(f"[red]error:[/red] {exc}", soft_wrap=True)
        raise typer.Exit(1) from exc
    _print_summary(result)
    from arrears.auth.audit import checkpoint_if_configured

    checkpoint_if_configured(engine, actor="demo")
    export_path = folder / f"delinquency-{day.isoformat()}.csv"
    from arrears.delinquency.export import export_delinquency as export

    with export_path.open("w", encoding="utf-8", newline="") as fh:
        export(engine, business_date=day, rules=_rules(), stream=fh)
    engine.dispose()
    console.print(f"Store: {folder / 'arrears.sqlite'}; per-account results: {export_path}")
    _print_demo_users(history.users, host=host, port=port)
    _print_demo_customer_link(url, host=host, port=port)
    if not serve_after:
        return
    with _demo_payments(folder, host=host, port=port):
        _serve_demo(url, host=host, port=port)


@contextmanager
def _demo_audit_key(folder: Path) -> Iterator[None]:
    """The demo signs its audit trail with a key of its own (``<folder>/audit.key``) and checkpoints it
    into ``<folder>/audit-checkpoints.jsonl``, as a bank would run it (docs/security.md), unless a key
    is configured already. The settings are the process's while the demo builds and serves."""
    import os

    from arrears.auth.audit import write_key_file

    names = ("ARREARS_AUDIT_KEY_FILE", "ARREARS_AUDIT_CHECKPOINT_FILE")
    if os.environ.get("ARREARS_AUDIT_KEY") or os.environ.get("ARREARS_AUDIT_KEY_FILE"):
        yield
        return
    before = {name: os.environ.get(name) for name in names}
    folder.mkdir(parents=True, exist_ok=True)
    key_file = folder / "audit.key"
    write_key_file(key_file)
    os.environ["ARREARS_AUDIT_KEY_FILE"] = str(key_file.resolve())
    os.environ["ARREARS_AUDIT_CHECKPOINT_FILE"] = str((folder / "audit-checkpoints.jsonl").resolve())
    get_settings.cache_clear()
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        get_settings.cache_clear()


@contextmanager
def _demo_payments(folder: Path, *, host: str, port: int) -> Iterator[None]:
    """The demo pays through the local sandbox provider (``python -m arrears.payments.sandbox``): its
    own process with its own keys in ``<folder>/payments-sandbox``, on the port after the demo's,
    stopped when the demo stops. The application's ``ARREARS_PAYMENTS_*`` settings point at it,
    unless payments are configured already."""
    import os
    import socket
    import subprocess
    import sys
    import time

    import httpx

    if os.environ.get("ARREARS_PAYMENTS_KEYS_DIR"):
        yield
        return
    pay_port = port + 1
    with socket.socket() as probe:
        if probe.connect_ex((host, pay_port)) == 0:  # taken: any free port
            with socket.socket() as free:
                free.bind((host, 0))
                pay_port = free.getsockname()[1]
    keys, sandbox = folder / "payments-sandbox", f"http://{host}:{pay_port}"
    with (folder / "payments-sandbox.log").open("w", encoding="utf-8") as log:
        proc = subprocess.Popen([sys.executable, "-m", "arrears.payments.sandbox", "--host", host, "--port",
                                 str(pay_port), "--keys", str(keys)], stdout=log, stderr=subprocess.STDOUT)
    names = {"ARREARS_PAYMENTS_KEYS_DIR": str(keys.resolve()), "ARREARS_PAYMENTS_BASE_URL": sandbox,
             "ARREARS_PAYMENTS_NOTIFY_URL": f"http://{host}:{port}/payments/notify", "ARREARS_PAYMENTS_SANDBOX": "1"}
    before = {name: os.environ.get(name) for name in names}
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{sandbox}/sandbox/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                console.print(f"[yellow]the payment sandbox did not start (see {folder / 'payments-sandbox.log'})"
                              f": paying online is off in this demo[/yellow]", soft_wrap=True)
                yield
                return
            time.sleep(0.1)
        os.environ.update(names)
        console.print(f"Payments: the local sandbox provider at [bold]{sandbox}[/bold] (keys in {keys}); the "
                      f"customer's page pays through it (its 'Pay now', then the sandbox's checkout page).",
                      soft_wrap=True)
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


def _print_demo_users(users: dict[str, tuple[str, str | None, str]], *, host: str, port: int) -> None:
    table = Table(title="Demo users (one per role)")
    for col in ("username", "role", "team", "password"):
        table.add_column(col)
    for username, (role, team, password) in users.items():
        table.add_row(username, role, team or "all teams", password)
    console.print(table)
    console.print(f"Sign in at [bold]http://{host}:{port}/login[/bold]. These passwords were generated for this "
                  f"demo store and are printed because the demo is LOCAL ONLY: do not expose it to a network.",
                  soft_wrap=True)


def _print_demo_customer_link(url: str, *, host: str, port: int) -> None:
    """One customer's personal link to try, with the answers its identity check expects (the demo's
    made-up customer: this is printed for the local demo only)."""
    from sqlalchemy import select

    from arrears.accounts.tables import Account, Customer
    from arrears.cases.model import OPEN_STATES
    from arrears.cases.tables import Case
    from arrears.kit.db import transaction
    from arrears.portal.service import issue_link, portal_key

    settings = get_settings()
    engine = store_engine(url)
    with transaction(engine) as session:
        row = session.execute(
            select(Account.account_ref, Customer.name, Customer.national_id, Customer.birth_date)
            .join(Case, Case.account_id == Account.id).join(Customer, Customer.id == Account.customer_id)
            .where(Case.status.in_(OPEN_STATES)).order_by(Case.dpd.desc(), Case.id).limit(1)).first()
        if row is None:
            engine.dispose()
            return
        issued = issue_link(session, account_ref=row.account_ref, key=portal_key(settings), settings=settings,
                            actor="demo")
    engine.dispose()
    console.print(f"A customer's own pages: [bold]http://{host}:{port}/p/{issued.token}[/bold] — {row.name}, account "
                  f"{row.account_ref}; confirm with ID ending [bold]{row.national_id[-4:]}[/bold] and date of birth "
                  f"[bold]{row.birth_date.isoformat()}[/bold].", soft_wrap=True)


def _serve_demo(url: str, *, host: str, port: int) -> None:
    import os

    import uvicorn

    from arrears.app import create_app
    from arrears.sim.history import DEFAULT_EXPERIMENTS

    os.environ["ARREARS_DATABASE_URL"] = url
    # the experiments the demo's cycles ran: the dashboards' read-out names each one's champion from it
    os.environ.setdefault("ARREARS_EXPERIMENTS_FILE", str(DEFAULT_EXPERIMENTS))
    get_settings.cache_clear()
    uvicorn.run(create_app(get_settings()), host=host, port=port, proxy_headers=False)


if __name__ == "__main__":  # pragma: no cover
    app()
