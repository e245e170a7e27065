"""``arrears policy``: compliance policy packs — ``whatif`` tries a proposed pack on the stored contact
history and, through the simulator, forward in time (:mod:`arrears.contact.whatif`)."""

from __future__ import annotations

import csv
import json
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from arrears.kit.errors import ArrearsError

policy_app = typer.Typer(help="Compliance policy packs: try a change on the history before it is made.",
                         no_args_is_help=True)

_err = Console(stderr=True)


def _fail(message: str, code: int = 1) -> typer.Exit:
    _err.print(f"[red]error:[/red] {message}", soft_wrap=True, markup=True, highlight=False)
    return typer.Exit(code)


def _pack(value: str, what: str):  # type: ignore[no-untyped-def]
    from arrears.contact.config import PACK_NAMES, load_default_pack, load_pack

    if value in PACK_NAMES:
        return load_default_pack(value)
    if Path(value).is_file():
        return load_pack(value)
    raise ArrearsError(f"{what}: {value}: no such file (or give one of the shipped packs: {', '.join(PACK_NAMES)})")


def _strategies(paths: list[Path] | None):  # type: ignore[no-untyped-def]
    from arrears.config import get_settings
    from arrears.strategy.config import load_strategy

    if not paths:
        folder = Path(get_settings().strategy_dir)
        paths = sorted(folder.glob("*.yaml")) if folder.is_dir() else []
        if not paths:
            raise ArrearsError(f"no strategy files in {folder}: give --strategy FILE, or --days 0 to replay only")
    for p in paths:
        if not p.is_file():
            raise ArrearsError(f"{p}: no such file")
    found = [load_strategy(p) for p in paths]
    names = [s.name for s in found]
    if len(set(names)) != len(names):
        raise ArrearsError(f"two strategy files have the same strategy name ({', '.join(names)})")
    return found


def _hours(text: str) -> tuple[int, ...]:
    parts = text.split("-")
    if len(parts) != 2 or not all(p.isdigit() for p in parts) or not 0 <= int(parts[0]) < int(parts[1]) <= 24:
        raise ArrearsError(f"--agent-hours: {text!r} is not FROM-UNTIL in whole hours, e.g. 08-21")
    return tuple(range(int(parts[0]), int(parts[1])))


def _namesake(proposed, replacement=None):  # type: ignore[no-untyped-def]
    """For the forward simulation: the shipped pack of the proposed pack's name (a layer on its
    country's base pack), or, with ``replacement``, the same with the proposed pack in its place."""
    from arrears.contact.config import PACK_NAMES, load_default_pack
    from arrears.contact.packchoice import JURISDICTION_LAYERS, base_pack_name, load_layer, merge

    if proposed.name in PACK_NAMES:
        return replacement or load_default_pack(proposed.name)
    where = next((j for j, names in JURISDICTION_LAYERS.items() if proposed.name in names), None)
    if where is None:
        raise ArrearsError(f"the proposed pack {proposed.name!r} is no shipped pack or layer")
    try:
        return merge(load_default_pack(base_pack_name(None, where, {})), (replacement or load_layer(proposed.name),))
    except ValueError as exc:
        raise ArrearsError(f"the proposed pack {proposed.name!r}: {exc}") from None


def _pct(x: float) -> str:
    return f"{100 * x:.2f}%"


def _rows(result: dict[str, Any]) -> list[tuple[str, str, Any, Any]]:
    """The report as (section, item, current, proposed) rows: the CSV and the tables read these."""
    r = result["replay"]
    rows: list[tuple[str, str, Any, Any]] = []
    n = r["contacts"]
    rows.append(("replay", "contacts", n["contacts"], n["contacts"]))
    for key, label in (("contacts", "blocked contacts"), ("right_party_contacts", "right-party contacts lost"),
                       ("promises", "promises lost"), ("promised_fen", "promised amount lost (fen)"),
                       ("complaints", "complaints on blocked contacts")):
        rows.append(("replay", label, r["blocked_current"][key], r["blocked_proposed"][key]))
    rows.append(("replay", "newly blocked (allowed by the current pack)", 0, r["newly_blocked"]["contacts"]))
    rows.append(("replay", "newly allowed (blocked by the current pack)", 0, r["newly_allowed"]["contacts"]))
    for rule in sorted(set(r["blocked_by_rule"]) | set(r["blocked_by_rule_current"])):
        rows.append(("blocked by rule", rule, r["blocked_by_rule_current"].get(rule, 0),
                     r["blocked_by_rule"].get(rule, 0)))
    for ch, k in r["blocked_by_channel"].items():
        rows.append(("blocked by channel", ch, "", k))
    for h, k in r["blocked_by_local_hour"].items():
        rows.append(("blocked by customer-local hour", f"{h}:00", "", k))
    fwd = result.get("forward")
    if fwd:
        cur, pro = fwd["current"], fwd["proposed"]
        for key in ("recovered_fen", "recovery_rate", "cure_rate", "calls", "right_party_contacts", "messages",
                    "promises", "contacts_blocked", "expected_complaints"):
            rows.append(("forward", key, cur[key], pro[key]))
    return rows


def _print(result: dict[str, Any], console: Console) -> None:
    from arrears.kit.money import format_yuan

    r = result["replay"]
    console.print(f"What if: {r['proposed_pack']} instead of {r['current_pack']}, "
                  f"history {r['from']} – {r['to']}", highlight=False)
    t = Table(title="Stored contacts replayed", title_justify="left")
    t.add_column("")
    t.add_column("current pack", justify="right")
    t.add_column("proposed pack", justify="right")
    for section, item, cur, pro in _rows(result):
        if section != "replay":
            continue
        if item.startswith("promised amount"):
            t.add_row("promised amount lost (CNY)", format_yuan(cur), format_yuan(pro))
        elif item.startswith("newly"):
            t.add_row(item, "", f"{pro:,}")
        else:
            t.add_row(item, f"{cur:,}", f"{pro:,}")
    console.print(t)
    if r["blocked_by_rule"] or r["blocked_by_rule_current"]:
        t = Table(title="Blocked by rule (once per rule)", title_justify="left")
        t.add_column("rule")
        t.add_column("current pack", justify="right")
        t.add_column("proposed pack", justify="right")
        for rule in sorted(set(r["blocked_by_rule"]) | set(r["blocked_by_rule_current"])):
            t.add_row(rule, f"{r['blocked_by_rule_current'].get(rule, 0):,}", f"{r['blocked_by_rule'].get(rule, 0):,}")
        console.print(t)
    if r["blocked_by_channel"]:
        t = Table(title="Blocked by the proposed pack", title_justify="left")
        t.add_column("channel")
        t.add_column("contacts", justify="right")
        t.add_column("customer-local hour")
        t.add_column("contacts", justify="right")
        chans = list(r["blocked_by_channel"].items())
        hours = list(r["blocked_by_local_hour"].items())
        for i in range(max(len(chans), len(hours))):
            ch = chans[i] if i < len(chans) else ("", "")
            h = hours[i] if i < len(hours) else ("", "")
            t.add_row(ch[0], f"{ch[1]:,}" if ch[1] != "" else "", f"{h[0]}:00" if h[0] else "",
                      f"{h[1]:,}" if h[1] != "" else "")
        console.print(t)
    fwd = result.get("forward")
    if fwd:
        cur, pro = fwd["current"], fwd["proposed"]
        t = Table(title=f"Forward: {fwd['accounts']:,} simulated accounts, {fwd['days']} days from {fwd['start']}, "
                        f"seed {fwd['seed']}, agents calling {fwd['agent_hours']} bank time",
                  title_justify="left")
        t.add_column("")
        t.add_column(f"current ({cur['pack']})", justify="right")
        t.add_column(f"proposed ({pro['pack']})", justify="right")
        t.add_column("change", justify="right")
        t.add_row("recovered (CNY)", format_yuan(cur["recovered_fen"]), format_yuan(pro["recovered_fen"]),
                  format_yuan(pro["recovered_fen"] - cur["recovered_fen"]))
        t.add_row("recovery rate", _pct(cur["recovery_rate"]), _pct(pro["recovery_rate"]),
                  f"{100 * (pro['recovery_rate'] - cur['recovery_rate']):+.2f} pt")
        t.add_row("cure rate", _pct(cur["cure_rate"]), _pct(pro["cure_rate"]),
                  f"{100 * (pro['cure_rate'] - cur['cure_rate']):+.2f} pt")
        for key, label in (("calls", "calls"), ("right_party_contacts", "right-party contacts"),
                           ("messages", "messages"), ("promises", "promises"),
                           ("contacts_blocked", "contacts blocked by the gate")):
            t.add_row(label, f"{cur[key]:,}", f"{pro[key]:,}", f"{pro[key] - cur[key]:+,}")
        t.add_row("expected complaints", f"{cur['expected_complaints']:.2f}", f"{pro['expected_complaints']:.2f}",
                  f"{pro['expected_complaints'] - cur['expected_complaints']:+.2f}")
        console.print(t)
        rates = fwd["complaint_rate"]
        console.print(f"Complaints expected at the history's rate: {rates['complaints']:,} complaint(s) in "
                      f"{rates['contacts']:,} stored contact(s), per customer-local hour.", highlight=False)


@policy_app.command("whatif")
def whatif_command(
    pack: Annotated[Path, typer.Option("--pack", help="The proposed policy pack (YAML file).")],
    first: Annotated[datetime, typer.Option("--from", formats=["%Y-%m-%d"],
                                            help="First business date of the history to replay, YYYY-MM-DD.")],
    last: Annotated[datetime, typer.Option("--to", formats=["%Y-%m-%d"],
                                           help="Last business date of the history to replay (inclusive).")],
    current: Annotated[str | None, typer.Option(
        help="Compare with one pack for every contact: a shipped name (cn, us-reg-f) or a YAML file. Default: "
             "each customer's own pack and layers, with the proposed pack in place of the one of its name.")
                       ] = None,
    days: Annotated[int, typer.Option(min=0, max=366, help="Days to simulate forward under each pack "
                                                            "(0: replay the history only).")] = 30,
    accounts: Annotated[int, typer.Option(min=1, help="Synthetic accounts in the forward simulation.")] = 2_000,
    seed: Annotated[int, typer.Option(help="Random seed of the forward simulation: same seed, same numbers.")] = 1,
    start: Annotated[datetime | None, typer.Option(formats=["%Y-%m-%d"], help="First simulated business date "
                                                   "(default: the day after --to).")] = None,
    strategy: Annotated[list[Path] | None, typer.Option(
        "--strategy", help="Strategy file for the forward simulation; repeat for several "
                           "(default: every *.yaml in ARREARS_STRATEGY_DIR).")] = None,
    agent_hours: Annotated[str, typer.Option(help="Hours of the bank's clock at which the simulated agents call, "
                                                  "FROM-UNTIL in whole hours (08-21: calls start 08:00 to 20:59).")
                           ] = "08-21",
    store: Annotated[str | None, typer.Option("--store", help="Database URL (default: ARREARS_DATABASE_URL).")
                     ] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="Also write the report as JSON to this file.")] = None,
    csv_out: Annotated[Path | None, typer.Option("--csv", help="Also write the report as CSV "
                                                 "(section, item, current, proposed) to this file.")] = None,
) -> None:
    """Replay the stored contacts of --from … --to under a proposed pack (contacts it would have blocked,
    by rule, channel and hour; right-party contacts and promises lost), and simulate recovery and
    expected complaints forward under the current and the proposed pack."""
    from datetime import timedelta

    from arrears.auth.audit import record
    from arrears.config import get_settings
    from arrears.contact.whatif import compare_history, complaint_rates, forward, read_history
    from arrears.kit.cli import cli_actor, store_engine

    if last < first:
        raise _fail(f"--to {last.date()} is before --from {first.date()}", 2)
    if not pack.is_file():
        raise _fail(f"{pack}: no such file", 2)
    try:
        hours = _hours(agent_hours)
        proposed = _pack(str(pack), "--pack")
        if current is None:
            from arrears.contact.whatif import customer_pack, in_place_of

            now_of: Any = customer_pack
            then_of: Any = in_place_of(proposed)
            labels = ("each customer's pack", f"{proposed.name} {proposed.version} in place of the shipped "
                                              f"{proposed.name}")
            in_force = _namesake(proposed)
            proposed_forward = _namesake(proposed, proposed)
        else:
            now_of, then_of, labels = _pack(current, "--current"), proposed, None
            in_force, proposed_forward = now_of, proposed
        strategies = _strategies(strategy) if days else []
        engine = store_engine(store)
        try:
            history = read_history(engine, first=first.date(), last=last.date(), bank_tz=get_settings().timezone)
            replayed = compare_history(history, now_of, then_of, first=first.date(), last=last.date(),
                                       labels=labels)
            result: dict[str, Any] = {"replay": replayed.to_dict()}
            if days:
                rates = complaint_rates(history.contacts)
                begin = start.date() if start else last.date() + timedelta(days=1)
                common = {"strategies": strategies, "days": days, "accounts": accounts, "seed": seed, "start": begin,
                          "rates": rates, "agent_hours": hours}
                result["forward"] = {
                    "days": days, "accounts": accounts, "seed": seed, "start": begin.isoformat(),
                    "agent_hours": f"{hours[0]:02d}:00-{hours[-1] + 1:02d}:00",
                    "strategies": [s.label for s in strategies],
                    "complaint_rate": {"overall": rates.overall, "contacts": rates.contacts,
                                       "complaints": rates.complaints,
                                       "by_local_hour": {f"{h:02d}": round(x, 6) for h, x in enumerate(rates.by_hour)}},
                    "current": forward(in_force, **common).to_dict(),  # type: ignore[arg-type]
                    "proposed": forward(proposed_forward, **common).to_dict(),  # type: ignore[arg-type]
                }
            from sqlalchemy.orm import Session

            with Session(engine) as session, session.begin():
                summary = {k: replayed.to_dict()[k] for k in ("from", "to", "current_pack", "proposed_pack",
                                                               "contacts", "blocked_proposed", "newly_blocked")}
                record(session, actor=cli_actor(), action="policy.whatif", entity="policy_pack",
                       entity_id=proposed.name, detail=summary | {"file": str(pack), "forward_days": days,
                                                                   "seed": seed})
        finally:
            engine.dispose()
    except ArrearsError as exc:
        raise _fail(str(exc)) from None
    _print(result, Console(width=120))
    if json_out is not None:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(result, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        typer.echo(f"report written to {json_out}")
    if csv_out is not None:
        csv_out.parent.mkdir(parents=True, exist_ok=True)
        with csv_out.open("w", encoding="utf-8", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["section", "item", "current", "proposed"])
            w.writerows(_rows(result))
        typer.echo(f"report written to {csv_out}")

@policy_app.command("check-random")
def check_random(
    contacts: Annotated[int, typer.Option("--contacts", min=1, help="how many random candidate contacts")]
    = 1_000_000,
    seed: Annotated[int, typer.Option(help="seed of the random contacts")] = 2026,
) -> None:
    """Random contacts across China, New York, Massachusetts and Washington, decided by the gate with
    the state and city layers: how many it admits, how many of those an independent reference finds a
    rule forbids (must be 0; exit code 1 otherwise), and the gate's cost per candidate."""
    from arrears.contact.randomcheck import check_random_command

    check_random_command(contacts, seed)
