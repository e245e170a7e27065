"""``arrears contact``: the daily contact plan (dialer file) and one customer's best hours.

Shifts file (YAML, optional; without it every active agent works 08:00–21:00 bank time)::

    calls_per_agent_hour: 12          # optional; default 12
    default: {start: "08:00", end: "21:00"}
    agents:                           # by username; "off" = not working that day
      li.na: {start: "12:00", end: "21:00"}
      wang.wei: off

Times are whole hours on the bank's clock (``ARREARS_TIMEZONE``); ``end`` is exclusive.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import numpy as np
import typer
import yaml
from rich.console import Console

from arrears.kit.cli import store_engine
from arrears.kit.errors import ArrearsError

contact_app = typer.Typer(help="Contact timing: the daily call plan and best hours to call.", no_args_is_help=True)

_err = Console(stderr=True)
HISTORY_DAYS = 180


def _fail(message: str) -> typer.Exit:
    _err.print(f"[red]error:[/red] {message}", soft_wrap=True)
    return typer.Exit(1)


def _hour(text: Any, where: str) -> int:
    value = str(text)
    parts = value.split(":")
    if len(parts) != 2 or not all(p.isdigit() for p in parts) or parts[1] != "00" or not 0 <= int(parts[0]) <= 24:
        raise ArrearsError(f"{where}: {value!r} is not a whole hour HH:00")
    return int(parts[0])


def load_shifts(path: Path | None, agents: list[Any]) -> tuple[list[Any], int]:
    """The shifts of ``agents`` (:class:`arrears.contact.history.AgentRow`) and the calls per agent-hour."""
    from arrears.contact.plan import DEFAULT_CALLS_PER_AGENT_HOUR, Shift

    if path is None:
        return [Shift(a.user_id, a.team_id) for a in agents], DEFAULT_CALLS_PER_AGENT_HOUR
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ArrearsError(f"{path}: cannot read the shifts file: {exc}") from exc
    if not isinstance(data, dict):
        raise ArrearsError(f"{path}: a mapping is expected")
    unknown = set(data) - {"calls_per_agent_hour", "default", "agents"}
    if unknown:
        raise ArrearsError(f"{path}: unknown field(s) {', '.join(sorted(unknown))}")
    calls = data.get("calls_per_agent_hour", DEFAULT_CALLS_PER_AGENT_HOUR)
    if not isinstance(calls, int) or isinstance(calls, bool) or calls < 0:
        raise ArrearsError(f"{path}, field 'calls_per_agent_hour': a whole number >= 0 is expected")

    def window(spec: Any, where: str) -> tuple[int, int] | None:
        if spec == "off" or spec is False:
            return None
        if not isinstance(spec, dict) or set(spec) != {"start", "end"}:
            raise ArrearsError(f"{path}, field '{where}': {{start: \"HH:00\", end: \"HH:00\"}} or off is expected")
        start, end = _hour(spec["start"], f"{path}, field '{where}.start'"), _hour(spec["end"], f"{path}, field "
                                                                                             f"'{where}.end'")
        if end <= start:
            raise ArrearsError(f"{path}, field '{where}': end must be after start")
        return start, end

    default = window(data.get("default", {"start": "08:00", "end": "21:00"}), "default")
    per_agent = data.get("agents") or {}
    if not isinstance(per_agent, dict):
        raise ArrearsError(f"{path}, field 'agents': a mapping of username to shift is expected")
    names = {a.username for a in agents}
    for name in per_agent:
        if name not in names:
            raise ArrearsError(f"{path}, field 'agents.{name}': no active agent {name!r}")
    shifts = []
    for a in agents:
        w = window(per_agent[a.username], f"agents.{a.username}") if a.username in per_agent else default
        if w is not None:
            shifts.append(Shift(a.user_id, a.team_id, w[0], w[1]))
    return shifts, calls


def _fit(engine, include: list[int], until: datetime):  # type: ignore[no-untyped-def]
    from arrears.contact.besttime import fit
    from arrears.contact.history import read_profiles, read_slot_counts

    counts = read_slot_counts(engine, since=until - timedelta(days=HISTORY_DAYS), until=until, include=include)
    profiles = read_profiles(engine, [int(c) for c in counts.customer_ids])
    on = until.date()
    segments = [profiles[int(c)].segment(on) if int(c) in profiles else "-|unknown" for c in counts.customer_ids]
    return fit(counts, segments)


@contact_app.command("plan")
def plan_command(
    day: Annotated[datetime, typer.Option("--date", formats=["%Y-%m-%d"], help="Business date, YYYY-MM-DD.")],
    out: Annotated[Path | None, typer.Option("--out", help="Dialer CSV to write (default: "
                                                           "<data_dir>/dialer-<date>.csv).")] = None,
    shifts: Annotated[Path | None, typer.Option("--shifts", help="Shifts YAML (default: every active agent "
                                                                 "08:00–21:00).")] = None,
    locale: Annotated[str, typer.Option(help="Language of the reasons: zh_CN or en.")] = "zh_CN",
) -> None:
    """Plan today's calls hour by hour (max expected right-party contacts under the gate) and write the dialer CSV."""
    from arrears.config import get_settings
    from arrears.contact.besttime import explain
    from arrears.contact.history import read_agents, read_due_cases
    from arrears.contact.packchoice import pack_for
    from arrears.contact.plan import build_plan, export_dialer_csv
    from arrears.contact.policy import local_instant

    settings = get_settings()
    business_day = day.date()
    bank_tz = settings.timezone
    engine = store_engine()
    try:
        cases = read_due_cases(engine, day=business_day, bank_tz=bank_tz)
        agents = read_agents(engine)
        shift_list, per_hour = load_shifts(shifts, agents)
        start = local_instant(ZoneInfo(bank_tz), business_day)
        model = _fit(engine, sorted({c.customer_id for c in cases}), start)
        rows = model.rows([c.customer_id for c in cases]) if cases else np.zeros(0, np.int64)
        probs = model.posterior_mean(rows) if cases else np.zeros((0, 168))

        def reason(i: int, s: int, appointment: bool) -> str:
            return explain(model, cases[i].customer_id, s, locale=locale, appointment=appointment)

        plan = build_plan(cases, probs, day=business_day, shifts=shift_list,
                          pack=lambda c: pack_for(c.product, c.jurisdiction),
                          bank_tz=bank_tz, calls_per_agent_hour=per_hour, explain=reason)
        target = out or settings.data_dir / f"dialer-{business_day.isoformat()}.csv"
        target.parent.mkdir(parents=True, exist_ok=True)
        written = export_dialer_csv(plan, target)
    except ArrearsError as exc:
        raise _fail(str(exc)) from None
    finally:
        engine.dispose()
    by_hour = plan.calls_by_hour()
    typer.echo(f"contact plan {business_day.isoformat()} ({bank_tz}): {len(cases)} case(s) due a call, "
               f"{len(shift_list)} agent shift(s), {per_hour} calls per agent-hour")
    typer.echo(f"planned {len(plan.calls)}, left for lack of capacity {len(plan.unplanned)}, "
               f"no allowed hour {len(plan.blocked)}; expected right-party contacts {plan.expected_rpc:.1f}")
    typer.echo("calls by hour: " + ", ".join(f"{h:02d}:00 {by_hour[h]}" for h in plan.hours))
    appts = Counter(c.appointment for c in plan.calls)[True]
    if appts:
        typer.echo(f"appointments honoured: {appts}")
    typer.echo(f"dialer file: {target} ({written} row(s))")


@contact_app.command("best-time")
def best_time_command(
    account: Annotated[str, typer.Option("--account", help="The bank's account id, or the store's id.")],
    top: Annotated[int, typer.Option(min=1, max=168, help="How many hours to show.")] = 3,
    locale: Annotated[str, typer.Option(help="zh_CN or en.")] = "zh_CN",
    day: Annotated[datetime | None, typer.Option("--date", formats=["%Y-%m-%d"],
                                                 help="Learn from the history before this business date "
                                                      "(default: now).")] = None,
) -> None:
    """The customer's best hours of the week to call, and why."""
    from arrears.config import get_settings
    from arrears.contact.besttime import best_hours
    from arrears.contact.history import account_customer, scheduled_appointments
    from arrears.contact.policy import local_instant
    from arrears.kit.clock import utc_now

    engine = store_engine()
    try:
        customer_id, tz, ref, case_id = account_customer(engine, account)
        now = utc_now() if day is None else local_instant(ZoneInfo(get_settings().timezone), day.date())
        model = _fit(engine, [customer_id], now)
        appts = scheduled_appointments(engine, case_id, after=now) if case_id is not None else []
        choices = best_hours(model, customer_id, top=top, locale=locale, appointments=appts, tz=tz)
    except ArrearsError as exc:
        raise _fail(str(exc)) from None
    finally:
        engine.dispose()
    head = f"{ref}（{tz}）最佳联系时段：" if locale.startswith("zh") else f"{ref} ({tz}) best hours to call:"
    typer.echo(head)
    for n, c in enumerate(choices, 1):
        typer.echo(f"{n}. {c.explanation}")
