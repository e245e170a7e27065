"""``arrears simulate``: run strategies on synthetic customers and print recovery, cure and roll rates."""

from __future__ import annotations

import json
import time
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer

from arrears.kit.errors import ArrearsError


def _fail(message: str, code: int = 1) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def simulate(
    strategy: Annotated[list[Path], typer.Option(
        "--strategy", help="Strategy file; repeat for several (tried in order, as in the daily cycle).")],
    days: Annotated[int, typer.Option(help="Business days to simulate (at least 1).")],
    accounts: Annotated[int, typer.Option(help="Synthetic accounts in arrears.")] = 5_000,
    seed: Annotated[int, typer.Option(help="Random seed: same seed, same customers and same report.")] = 1,
    start: Annotated[datetime | None, typer.Option(formats=["%Y-%m-%d"],
                                                   help="First business date, YYYY-MM-DD (default 2026-03-02).")] = None,
    experiments: Annotated[Path | None, typer.Option(help="Champion/challenger experiments file: "
                                                          "the report is also given per arm.")] = None,
    pack: Annotated[str, typer.Option(help="Compliance pack: a shipped name (cn, us-reg-f) or a YAML file.")] = "cn",
    json_out: Annotated[Path | None, typer.Option("--json", help="Also write the report as JSON to this file.")] = None,
    self_service: Annotated[bool, typer.Option(
        "--self-service", help="Run the book twice with the same seed, without and with the personal link "
        "(the strategies' portal_link actions), and report recovery and cost per resolved case side by side.",
        rich_help_panel="Self-service")] = False,
    link_open: Annotated[str, typer.Option(help="P(the customer opens the link) by bucket, BUCKET=P,… "
                                                "(other buckets: --link-open-other).",
                                           rich_help_panel="Self-service")] = "M1=0.45,M2=0.35,M3=0.25",
    link_open_other: Annotated[float, typer.Option(min=0, max=1, help="P(opened) for the buckets not named.",
                                                   rich_help_panel="Self-service")] = 0.15,
    link_verify: Annotated[float, typer.Option(min=0, max=1, help="P(proves who they are | opened).",
                                               rich_help_panel="Self-service")] = 0.80,
    link_act: Annotated[float, typer.Option(min=0, max=1, help="P(does something | verified).",
                                            rich_help_panel="Self-service")] = 0.60,
    link_pay_share: Annotated[float, typer.Option(min=0, max=1, help="Of those who can afford the past-due "
                                                  "amount, the share who pay now (the rest promise a date).",
                                                  rich_help_panel="Self-service")] = 0.70,
    plan_keep_bonus: Annotated[float, typer.Option(min=0, max=1, help="Added to the chance of paying each "
                                                   "instalment of a plan the customer chose on the page.",
                                                   rich_help_panel="Self-service")] = 0.05,
    agent_fen_per_minute: Annotated[int, typer.Option(min=0, help="Cost of an agent minute, fen (loaded).",
                                                      rich_help_panel="Costs")] = 100,
    call_attempt_seconds: Annotated[int, typer.Option(min=0, help="Agent time of a call not answered.",
                                                      rich_help_panel="Costs")] = 90,
    conversation_seconds: Annotated[int, typer.Option(min=0, help="Agent time of a conversation (and a "
                                                      "call-back is --callback-seconds).",
                                                      rich_help_panel="Costs")] = 420,
    review_task_seconds: Annotated[int, typer.Option(min=0, help="Agent time of a review task.",
                                                     rich_help_panel="Costs")] = 600,
    callback_seconds: Annotated[int, typer.Option(min=0, help="Agent time of a call-back the customer booked.",
                                                  rich_help_panel="Costs")] = 420,
    sms_fen: Annotated[int, typer.Option(min=0, help="Cost of one SMS, fen.", rich_help_panel="Costs")] = 5,
    email_fen: Annotated[int, typer.Option(min=0, help="Cost of one e-mail, fen.", rich_help_panel="Costs")] = 1,
    letter_fen: Annotated[int, typer.Option(min=0, help="Cost of one letter, fen.", rich_help_panel="Costs")] = 300,
    payment_fee_bp: Annotated[int, typer.Option(min=0, max=10_000, help="The payment provider's fee on payments "
                                                "made on the page, basis points (60 = 0.6 %).",
                                                rich_help_panel="Costs")] = 60,
) -> None:
    """Simulate customers in arrears answering calls, reading messages, promising, agreeing plans, paying,
    curing or rolling, under the given strategies and the real compliance gate; print the report."""
    from arrears.contact.config import PACK_NAMES, load_default_pack, load_pack
    from arrears.sim.behaviour import synthetic_customers
    from arrears.sim.simulate import DEFAULT_START
    from arrears.sim.simulate import simulate as run
    from arrears.strategy.config import load_strategy
    from arrears.strategy.experiments import load_experiments

    if days < 1:
        raise _fail(f"--days must be at least 1, got {days}", 2)
    if accounts < 1:
        raise _fail(f"--accounts must be at least 1, got {accounts}", 2)
    for path in [*strategy, *([experiments] if experiments else [])]:
        if not path.is_file():
            raise _fail(f"{path}: no such file")
    try:
        strategies = [load_strategy(p) for p in strategy]
        names = [s.name for s in strategies]
        if len(set(names)) != len(names):
            raise _fail(f"two strategy files have the same strategy name ({', '.join(names)})")
        arms = load_experiments(experiments) if experiments else ()
        if pack in PACK_NAMES:
            policy = load_default_pack(pack)
        elif Path(pack).is_file():
            policy = load_pack(pack)
        else:
            raise _fail(f"unknown pack {pack!r}: give one of {', '.join(PACK_NAMES)} or a pack file")
        began = time.perf_counter()
        customers = synthetic_customers(accounts, seed=seed)
        if self_service:
            from arrears.sim.self_service import Costs, Propensity, compare, parse_open_by_bucket

            try:
                propensity = Propensity(open_by_bucket=parse_open_by_bucket(link_open), open_other=link_open_other,
                                        verify=link_verify, act=link_act, pay_share=link_pay_share,
                                        plan_keep_bonus=plan_keep_bonus)
                costs = Costs(agent_fen_per_minute=agent_fen_per_minute, call_attempt_seconds=call_attempt_seconds,
                              conversation_seconds=conversation_seconds, review_task_seconds=review_task_seconds,
                              callback_seconds=callback_seconds, sms_fen=sms_fen, email_fen=email_fen,
                              letter_fen=letter_fen, payment_fee_bp=payment_fee_bp)
            except ValueError as exc:
                raise _fail(str(exc), 2) from exc
            report: object = compare(customers, strategies, days=days, start=start.date() if start else DEFAULT_START,
                                     seed=seed, pack=policy, propensity=propensity, costs=costs, experiments=arms,
                                     keep_events=False)
        else:
            report = run(customers, strategies, days=days, start=start.date() if start else DEFAULT_START, seed=seed,
                         pack=policy, experiments=arms, keep_events=False).report
        elapsed = time.perf_counter() - began
    except ArrearsError as exc:
        raise _fail(str(exc)) from exc
    typer.echo(report.text())  # type: ignore[attr-defined]
    typer.echo(f"({elapsed:.1f} s)")
    if json_out is not None:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(report.to_dict(), ensure_ascii=False, indent=2) + "\n",  # type: ignore[attr-defined]
                            encoding="utf-8")
        typer.echo(f"report written to {json_out}")
