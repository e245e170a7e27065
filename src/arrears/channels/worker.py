"""The outbox worker: delivers due messages through the channel adapters, exactly once.

One round (see ``docs/channels.md``):

1. **Claim** (one short transaction; ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, ``BEGIN IMMEDIATE`` on
   SQLite): up to ``batch`` due messages become ``sending``, ``attempts`` + 1, and ``next_attempt_at``
   becomes the end of the worker's lease.
2. For each message, **outside** any transaction: read what it needs, then refuse it (no contact point,
   opted out, template error), hold it back (the compliance gate blocks it now), or render and send it
   through the channel's adapter with the message's idempotency key.
3. **Record** the result in a transaction of its own, guarded by the lease: the message's new status,
   a ``message_deliveries`` row, and for a delivered message an interaction on the case.

A worker killed between 2 and 3 leaves the message ``sending``; when the lease has run out another
(or the restarted) worker claims it again and sends it with the same idempotency key, which the
provider deduplicates. So a message is delivered once even though it may be *sent* twice.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from arrears.cases.config import load_default_case_rules
from arrears.cases.service import record_interaction
from arrears.channels import repository as repo
from arrears.channels.adapters import Adapter, Delivery, OutgoingMessage, Recipient
from arrears.channels.templates import TemplateError, render, spec
from arrears.config import Settings, get_settings
from arrears.contact import ContactCandidate, Decision, PolicyPack, gate
from arrears.contact import regf as regulation_f
from arrears.contact import service as gate_log
from arrears.contact.packchoice import pack_for
from arrears.contact.policy import zone
from arrears.contact.service import GATE_PARTY, HISTORY_DAYS, build_candidate
from arrears.kit.clock import utc_now
from arrears.kit.db import transaction, write_first

log = structlog.get_logger("arrears.channels.worker")

#: The contact-point kind each channel needs.
POINT_KIND = {"sms": "phone", "email": "email", "letter": "address"}
#: Contact-point owner → the interaction log's party (→ the gate's party: ``GATE_PARTY``, from
#: :mod:`arrears.contact.service`, which builds the candidate for the worker and for cases alike).
LOG_PARTY = {"debtor": "debtor", "emergency": "emergency_contact", "other": "other"}
#: Outcome written to the case's interaction log: a delivered message; a recipient the provider refused.
OUTCOME_DELIVERED = "left_message"
OUTCOME_BAD_RECIPIENT = "wrong_number"


@dataclass
class WorkerStats:
    sent: int = 0
    failed: int = 0
    dead: int = 0
    blocked: int = 0
    released: int = 0
    lost: int = 0
    batches: int = 0
    errors: list[str] = field(default_factory=list)


def backoff(attempt: int, *, base: float, cap: float, rng: random.Random | None = None) -> timedelta:
    """Wait before retrying after failed attempt ``attempt`` (1-based): ``base * 2**(attempt-1)``
    seconds capped at ``cap``, times a jitter drawn from [0.5, 1.0] — never more than ``cap``,
    never less than half the un-jittered wait."""
    delay = min(cap, base * (2 ** max(0, attempt - 1)))
    jitter = (rng or random).uniform(0.5, 1.0)
    return timedelta(seconds=delay * jitter)


def _outgoing(ctx: repo.MessageContext) -> OutgoingMessage:
    return OutgoingMessage(ctx.id, ctx.idempotency_key, ctx.channel, ctx.template, ctx.locale, ctx.case_id,
                           ctx.created_at)


def _context(ctx: repo.MessageContext, settings: Settings, bank_tz: str) -> dict[str, object]:
    """The payload with what the worker adds: customer name, masked card, bank, service number, zone."""
    account = ctx.account_ref or ""
    zh = ctx.locale == "zh_CN"
    added = {
        "customer_name": ctx.customer_name or "",
        "masked_card": "****" + account[-4:] if len(account) > 4 else "****",
        "bank_name": settings.bank_name if zh else settings.bank_name_en,
        "service_phone": settings.bank_service_phone,
        "tz": ctx.time_zone or bank_tz,
        "letter_date": ctx.created_at.astimezone(zone(bank_tz)).date().isoformat(),
    }
    return added | ctx.payload


def candidate(ctx: repo.MessageContext, *, at: datetime, purpose: str, bank_tz: str,
              regf_facts: Mapping[str, Any] | None = None) -> ContactCandidate:
    """The contact the message would be, as the compliance gate sees it (built by the shared
    :func:`arrears.contact.service.build_candidate`); ``regf_facts``: the Regulation F facts of the
    store and of the template's ``content`` (:mod:`arrears.contact.regf`)."""
    point = ctx.point
    assert point is not None
    return build_candidate(
        at=at, channel=ctx.channel, party=GATE_PARTY.get(point.owner, "third_party"), purpose=purpose,
        tz=ctx.time_zone or bank_tz, account_id=ctx.account_ref or f"message:{ctx.id}", bank_tz=bank_tz,
        holds=ctx.holds, interactions=ctx.interactions, party_ref=str(point.id), opted_out=point.opted_out,
        opt_out_notice=True, discloses_debt=True, wishes=ctx.wishes, regf=regf_facts)


def _block_text(decision: Decision) -> str:
    return "blocked by the compliance gate: " + "; ".join(f"{b.rule_id}: {b.message}" for b in decision.blocks)


class Worker:
    """One worker: its adapters, settings, gate pack and clock. :meth:`run` is :func:`run_worker`."""

    def __init__(self, engine: Engine, *, adapters: Mapping[str, Adapter], now: Callable[[], datetime] = utc_now,
                 settings: Settings | None = None, pack: PolicyPack | None = None, max_attempts: int | None = None,
                 backoff_seconds: float | None = None, backoff_max_seconds: float | None = None,
                 lease_seconds: float | None = None, rng: random.Random | None = None,
                 stop: threading.Event | None = None) -> None:
        self.engine = engine
        self.claim_engine = write_first(engine)
        self.adapters = dict(adapters)
        self.now = now
        self.settings = settings or get_settings()
        #: one pack for every message (tests), or None: each message's own (product and jurisdiction)
        self.pack = pack
        s = self.settings
        self.max_attempts = max_attempts or s.worker_max_attempts
        self.backoff_seconds = s.worker_backoff_seconds if backoff_seconds is None else backoff_seconds
        self.backoff_max_seconds = s.worker_backoff_max_seconds if backoff_max_seconds is None else backoff_max_seconds
        self.lease = timedelta(seconds=s.worker_lease_seconds if lease_seconds is None else lease_seconds)
        self.rng = rng or random.Random()
        self.stop = stop or threading.Event()
        self.rules = load_default_case_rules()
        self.stats = WorkerStats()

    # -- the loop --------------------------------------------------------------------------------

    def run(self, *, batch: int = 100, once: bool = False, poll: float = 5.0) -> WorkerStats:
        channels = tuple(sorted(self.adapters))
        while not self.stop.is_set():
            now = self.now()
            with transaction(self.claim_engine) as session:
                claimed = repo.claim_due(session, now=now, limit=batch, lease_until=now + self.lease,
                                         channels=channels)
            if not claimed:
                if once:
                    break
                self.stop.wait(poll)
                continue
            self.stats.batches += 1
            for i, claim in enumerate(claimed):
                if self.stop.is_set():
                    self._release(claimed[i:])
                    break
                try:
                    self.process(claim)
                except Exception as exc:  # noqa: BLE001 - one bad message must not stop the others
                    log.exception("outbox.message_error", message_id=claim.id)
                    self.stats.errors.append(f"message {claim.id}: {exc!r}")
                    self._finish_transient(claim, Delivery("transient", None, f"worker error: {exc!r}"))
        return self.stats

    def _release(self, claims: list[repo.Claimed]) -> None:
        """Give back messages claimed but not started (the worker is stopping): due again at once."""
        now = self.now()
        with transaction(self.engine) as session:
            for claim in claims:
                if repo.settle(session, claim, status="pending" if claim.attempts == 1 else "failed",
                               attempts=claim.attempts - 1, next_attempt_at=now):
                    self.stats.released += 1

    # -- one message -----------------------------------------------------------------------------

    def process(self, claim: repo.Claimed) -> None:
        now = self.now()
        bank_tz = self.settings.timezone
        with Session(self.engine) as session:
            ctx = repo.message_context(session, claim.id, since=now - timedelta(days=HISTORY_DAYS))
        if claim.was == "sending" and claim.attempts > self.max_attempts:
            self._dead(claim, ctx, f"no result after {claim.attempts - 1} attempts (the worker stopped during each)")
            return
        point = ctx.point
        if point is None or point.kind != POINT_KIND[ctx.channel]:
            self._dead(claim, ctx, f"no {POINT_KIND[ctx.channel]} contact point for a {ctx.channel} message")
            return
        if point.opted_out:
            self._dead(claim, ctx, "opted_out")
            return
        try:
            template = spec(ctx.template)
            rendered = render(ctx.template, ctx.channel, ctx.locale, _context(ctx, self.settings, bank_tz))
        except TemplateError as exc:
            self._dead(claim, ctx, f"template: {exc.message}")
            return
        with Session(self.engine) as session:
            facts = regulation_f.case_facts(session, case_id=ctx.case_id, contact_point_id=point.id,
                                            channel=ctx.channel, bank_tz=bank_tz) | dict(template.content)
        contact = candidate(ctx, at=now, purpose=template.purpose, bank_tz=bank_tz, regf_facts=facts)
        pack = self.pack or pack_for(ctx.product, ctx.jurisdiction, self.settings.product_packs)
        decision = gate(contact, pack)
        if not decision.allowed:
            self._log_block(ctx, contact, pack)
            self._blocked(claim, ctx, decision)
            return
        recipient = Recipient(point.value, ctx.customer_name or "", point.id)
        try:
            delivery = self.adapters[ctx.channel].send(_outgoing(ctx), rendered, recipient)
        except Exception as exc:  # noqa: BLE001 - an adapter bug is a transient failure of this message
            log.exception("outbox.adapter_error", message_id=ctx.id, channel=ctx.channel)
            delivery = Delivery("transient", None, f"adapter error: {exc!r}")
        if delivery.status == "sent":
            self._sent(claim, ctx, delivery)
        elif delivery.status == "permanent":
            self._dead(claim, ctx, delivery.detail or "refused by the provider", delivery=delivery)
        else:
            self._finish_transient(claim, delivery, ctx)

    # -- results (each in its own transaction, guarded by the lease) ------------------------------

    def _sent(self, claim: repo.Claimed, ctx: repo.MessageContext, delivery: Delivery) -> None:
        now = self.now()
        with transaction(self.engine) as session:
            if not repo.settle(session, claim, status="sent", sent_at=now, last_error=None):
                self.stats.lost += 1  # the lease ran out and another worker took the message over
                return
            repo.add_delivery(session, message_id=ctx.id, attempt=claim.attempts, status="sent", at=now,
                              provider_ref=delivery.provider_ref, detail=delivery.detail)
            if ctx.template == regulation_f.NOTICE_TEMPLATE:  # the validation notice's delivery record (1006.42)
                regulation_f.notice_message_sent(session, message_id=ctx.id, method=ctx.channel, sent_at=now,
                                                 actor="worker")
            if ctx.case_id is not None and ctx.point is not None and ctx.point.owner == "debtor" \
                    and spec(ctx.template).purpose != "service":
                # a message about the debt delivered to the debtor is a communication: under us-reg-f the
                # first one schedules the validation notice
                regulation_f.note_message(session, case_id=ctx.case_id, at=now, actor="worker",
                                          pack=self.pack or pack_for(ctx.product, ctx.jurisdiction,
                                                                     self.settings.product_packs))
            self._log(session, ctx, OUTCOME_DELIVERED, now, f"{ctx.template} ({ctx.locale}) delivered by "
                      f"{ctx.channel}: {delivery.provider_ref or delivery.detail or ''}".strip())
        self.stats.sent += 1
        log.info("outbox.sent", message_id=ctx.id, channel=ctx.channel, provider_ref=delivery.provider_ref)

    def _dead(self, claim: repo.Claimed, ctx: repo.MessageContext, reason: str, *,
              delivery: Delivery | None = None) -> None:
        now = self.now()
        with transaction(self.engine) as session:
            if not repo.settle(session, claim, status="dead", last_error=reason[:2000]):
                self.stats.lost += 1  # the lease ran out and another worker took the message over
                return
            repo.add_delivery(session, message_id=ctx.id, attempt=claim.attempts, status="dead", at=now,
                              provider_ref=delivery.provider_ref if delivery else None, detail=reason)
            if delivery is not None and delivery.bad_recipient:
                self._log(session, ctx, OUTCOME_BAD_RECIPIENT, now,
                          f"{ctx.template} not delivered by {ctx.channel}: {reason}")
        self.stats.dead += 1
        log.warning("outbox.dead", message_id=ctx.id, reason=reason)

    def _finish_transient(self, claim: repo.Claimed, delivery: Delivery,
                          ctx: repo.MessageContext | None = None) -> None:
        reason = delivery.detail or "transient failure"
        if claim.attempts >= self.max_attempts:
            if ctx is None:
                with Session(self.engine) as session:
                    ctx = repo.message_context(session, claim.id, since=self.now())
            self._dead(claim, ctx, f"gave up after {claim.attempts} attempts: {reason}")
            return
        now = self.now()
        retry_at = now + backoff(claim.attempts, base=self.backoff_seconds, cap=self.backoff_max_seconds,
                                 rng=self.rng)
        with transaction(self.engine) as session:
            if not repo.settle(session, claim, status="failed", next_attempt_at=retry_at, last_error=reason[:2000]):
                self.stats.lost += 1  # the lease ran out and another worker took the message over
                return
            repo.add_delivery(session, message_id=claim.id, attempt=claim.attempts, status="failed", at=now,
                              provider_ref=delivery.provider_ref, detail=f"{reason}; retry at {retry_at.isoformat()}")
        self.stats.failed += 1
        log.info("outbox.retry", message_id=claim.id, attempt=claim.attempts, retry_at=retry_at.isoformat())

    def _log_block(self, ctx: repo.MessageContext, contact: ContactCandidate, pack: PolicyPack) -> None:
        """The block in the compliance log (its own transaction: logged even if the lease is lost)."""
        with transaction(self.engine) as session:
            if ctx.case_id is not None:
                gate_log.check_contact(session, case_id=ctx.case_id, channel=contact.channel, party=contact.party,
                                       purpose=contact.purpose, at=contact.at, actor="worker", source="worker",
                                       pack=pack, candidate=contact)
            else:
                gate_log.log_decision(session, gate(contact, pack), case_id=None, account_id=None,
                                      actor="worker", source="worker")

    def _blocked(self, claim: repo.Claimed, ctx: repo.MessageContext, decision: Decision) -> None:
        reason = _block_text(decision)
        if decision.next_allowed_at is None:
            self._dead(claim, ctx, reason + " (never allowed)")
            return
        now = self.now()
        with transaction(self.engine) as session:
            # Held back, not tried: the claim is not counted as an attempt.
            if not repo.settle(session, claim, status="pending" if claim.attempts == 1 else "failed",
                               attempts=claim.attempts - 1, next_attempt_at=decision.next_allowed_at,
                               last_error=reason[:2000]):
                self.stats.lost += 1  # the lease ran out and another worker took the message over
                return
            repo.add_delivery(session, message_id=ctx.id, attempt=claim.attempts, status="blocked", at=now,
                              detail=f"{reason}; next allowed {decision.next_allowed_at.isoformat()}")
        self.stats.blocked += 1

    def _log(self, session: Session, ctx: repo.MessageContext, outcome: str, at: datetime, notes: str) -> None:
        """The delivery on the case's timeline (interactions), when the message belongs to a case."""
        if ctx.case_id is None:
            return
        owner = ctx.point.owner if ctx.point else "debtor"
        record_interaction(session, case_id=ctx.case_id, channel=ctx.channel, direction="outbound",
                           party=LOG_PARTY.get(owner, "other"), started_at=at, ended_at=at, outcome=outcome,
                           rules=self.rules, contact_point_id=ctx.point.id if ctx.point else None,
                           notes=notes[:2000])


def run_worker(engine: Engine, *, adapters: Mapping[str, Adapter], now: Callable[[], datetime] = utc_now,
               batch: int = 100, once: bool = False, poll: float = 5.0, settings: Settings | None = None,
               pack: PolicyPack | None = None, max_attempts: int | None = None, backoff_seconds: float | None = None,
               backoff_max_seconds: float | None = None, lease_seconds: float | None = None,
               rng: random.Random | None = None, stop: threading.Event | None = None) -> WorkerStats:
    """Deliver due outbox messages through ``adapters`` (channel → adapter; messages of channels
    without an adapter wait). ``once``: stop when nothing is due; otherwise poll every ``poll``
    seconds until ``stop`` is set. Settings give the defaults of attempts, backoff and lease."""
    worker = Worker(engine, adapters=adapters, now=now, settings=settings, pack=pack, max_attempts=max_attempts,
                    backoff_seconds=backoff_seconds, backoff_max_seconds=backoff_max_seconds,
                    lease_seconds=lease_seconds, rng=rng, stop=stop)
    return worker.run(batch=batch, once=once, poll=poll)


__all__ = ["HISTORY_DAYS", "OUTCOME_BAD_RECIPIENT", "OUTCOME_DELIVERED", "Worker", "WorkerStats", "backoff",
           "candidate", "run_worker"]
