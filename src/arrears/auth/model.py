"""Roles, data scopes, masking of personal data and the audit chain's canonical form.

Pure: no database, no I/O. The service layer (``service.py``) applies these rules to the store.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any

from arrears.kit.errors import ArrearsError

# --------------------------------------------------------------------------------------------
# Errors


class AuthError(ArrearsError):
    """Who you are could not be established: wrong password, unknown user, bad or expired token."""

    status = 401


class AccountLocked(AuthError):
    """Too many failed logins: the account is locked until ``until``."""

    status = 423

    def __init__(self, message: str, *, until: datetime) -> None:
        super().__init__(message)
        self.until = until


class Forbidden(ArrearsError):
    """Known user, not allowed to do this."""

    status = 403


# --------------------------------------------------------------------------------------------
# Roles and scopes


class Role(StrEnum):
    AGENT = "agent"
    TEAM_LEAD = "team_lead"
    SUPERVISOR = "supervisor"
    COMPLIANCE = "compliance"
    ADMIN = "admin"
    AUDITOR = "auditor"


ROLES: tuple[str, ...] = tuple(r.value for r in Role)

#: Roles whose work is one team's cases; a user with one of these roles must belong to a team.
TEAM_ROLES: frozenset[str] = frozenset({Role.AGENT, Role.TEAM_LEAD})
#: Roles that see every team's cases.
ALL_TEAMS_ROLES: frozenset[str] = frozenset({Role.SUPERVISOR, Role.COMPLIANCE, Role.ADMIN, Role.AUDITOR})


class UnknownRole(ArrearsError, ValueError):
    """A role name that is not one of :data:`ROLES` (a 422 on the web and the API, not a crash)."""

    status = 422


def check_role(role: str) -> Role:
    try:
        return Role(role)
    except ValueError:
        raise UnknownRole(f"unknown role {role!r}; roles are {', '.join(ROLES)}") from None


def sees_all_teams(role: str) -> bool:
    return check_role(role) in ALL_TEAMS_ROLES


# --------------------------------------------------------------------------------------------
# Masking

KINDS: tuple[str, ...] = ("national_id", "phone", "address", "email", "name")

#: Purposes of an audited reveal. ``dial``: the dialer is handed the real number to place a call.
PURPOSES: tuple[str, ...] = ("view", "dial")

_ALL = frozenset(ROLES)
_UNMASKERS = frozenset({Role.COMPLIANCE, Role.ADMIN})
_CALLERS = frozenset({Role.AGENT, Role.TEAM_LEAD, Role.SUPERVISOR}) | _UNMASKERS


@dataclass(frozen=True)
class KindPolicy:
    """Who sees one kind of personal data how.

    ``plain``: shown unmasked on every screen (not an event). ``reveal``: masked on screen, may be
    unmasked on request, and every such reveal is audited. ``dial``: may have the real value handed
    to the dialer (an audited reveal with purpose ``dial``), never shown.
    """

    plain: frozenset[str] = frozenset()
    reveal: frozenset[str] = frozenset()
    dial: frozenset[str] = frozenset()


#: The masking policy. Agents address customers by name, so names are plain for the working
#: roles; everything else is masked for everyone and only compliance and admin may unmask it.
POLICY: Mapping[str, KindPolicy] = {
    "national_id": KindPolicy(reveal=_UNMASKERS),
    "phone": KindPolicy(reveal=_UNMASKERS, dial=_CALLERS),
    "address": KindPolicy(reveal=_UNMASKERS),
    "email": KindPolicy(reveal=_UNMASKERS),
    "name": KindPolicy(plain=_ALL - {Role.AUDITOR}, reveal=_UNMASKERS),
}

STAR = "*"
#: Fixed-width filler where the length of the hidden part would itself tell something.
HIDDEN = STAR * 4

_CN_MOBILE = re.compile(r"^(?:\+?86)?(1[3-9]\d{9})$")
_LANDLINE = re.compile(r"^(0\d{2,3})-?(\d{7,8})$")
_HAN = r"[\u4e00-\u9fff]"
_MUNICIPALITY = re.compile(r"^(北京市|上海市|天津市|重庆市)")
_PROVINCE = re.compile(rf"^({_HAN}{{1,8}}?(?:省|自治区|特别行政区))")
_CITY = re.compile(rf"^({_HAN}{{1,10}}?(?:自治州|地区|盟|市))")


def check_kind(kind: str) -> str:
    if kind not in POLICY:
        raise ValueError(f"unknown kind of personal data {kind!r}; kinds are {', '.join(KINDS)}")
    return kind


def _keep_ends(value: str, head: int, tail: int) -> str:
    """``head`` first and ``tail`` last characters kept, one star for each hidden one.

    Too short to hide anything meaningful (fewer than head + tail + 3 characters): all stars.
    """
    if len(value) < head + tail + 3:
        return STAR * len(value) if value else ""
    return value[:head] + STAR * (len(value) - head - tail) + value[len(value) - tail:]


def mask_national_id(value: str) -> str:
    """``110105194912310021`` → ``110***********0021``: region prefix and last four kept."""
    return _keep_ends(value.strip(), 3, 4)


def mask_phone(value: str) -> str:
    """Mobile ``13812345678`` → ``138****5678``; landline ``010-12345678`` → ``010-****5678``."""
    v = value.strip().replace(" ", "")
    if m := _CN_MOBILE.match(v):
        return _keep_ends(m.group(1), 3, 4)
    if m := _LANDLINE.match(v):
        area, number = m.groups()
        return f"{area}-{_keep_ends(number, 0, 4)}"
    return _keep_ends(v, 0, 4)


def mask_address(value: str) -> str:
    """Province and city kept, the rest hidden: ``广东省深圳市南山区科技园路1号`` → ``广东省深圳市****``."""
    v = value.strip()
    kept = ""
    if m := _MUNICIPALITY.match(v):
        kept = m.group(1)
    else:
        if m := _PROVINCE.match(v):
            kept = m.group(1)
        if m := _CITY.match(v[len(kept):]):
            kept += m.group(1)
    return kept + HIDDEN if v else ""


def mask_email(value: str) -> str:
    """``zhangsan@example.com`` → ``z****@example.com``: first character and domain kept."""
    v = value.strip()
    local, at, domain = v.rpartition("@")
    if not at or not local:
        return HIDDEN if v else ""
    return f"{local[0]}{HIDDEN}@{domain}"


def mask_name(value: str) -> str:
    """``张三丰`` → ``张**``: the first character (usually the surname) kept."""
    v = value.strip()
    return v[:1] + STAR * (len(v) - 1) if len(v) > 1 else (STAR if v else "")


_MASKERS = {
    "national_id": mask_national_id,
    "phone": mask_phone,
    "address": mask_address,
    "email": mask_email,
    "name": mask_name,
}


def masked(kind: str, value: str) -> str:
    """The masked form of ``value``, whatever the role."""
    return _MASKERS[check_kind(kind)](value)


def mask(kind: str, value: str | None, role: str) -> str | None:
    """``value`` as ``role`` may see it on screen: plain where the policy allows, masked otherwise."""
    check_role(role)
    if value is None:
        return None
    if role in POLICY[check_kind(kind)].plain:
        return value
    return masked(kind, value)


def can_reveal(kind: str, role: str, purpose: str = "view") -> bool:
    """May ``role`` have ``kind`` unmasked for ``purpose`` (an audited event)?"""
    check_role(role)
    policy = POLICY[check_kind(kind)]
    if purpose == "view":
        return role in policy.reveal or role in policy.plain
    if purpose == "dial":
        return role in policy.dial
    raise ValueError(f"unknown purpose {purpose!r}; purposes are {', '.join(PURPOSES)}")


#: Files that carry personal data unmasked, and the kinds in each. The masking policy decides them
#: too: a role may produce one only if it may unmask (purpose ``view``) every kind the file holds —
#: the same answer ``POST /cases/{id}/reveal`` gives — and only with a reason, which is audited.
UNMASKED_OUTPUTS: Mapping[str, tuple[str, ...]] = {
    "legal_bundle": ("name", "national_id", "phone", "address", "email"),
    "agency_placement": ("name", "phone", "address"),
}


class ReasonRequired(ArrearsError):
    """An unmasked output asked for without a reason."""

    status = 422
    field = "reason"


def may_unmask_output(output: str, role: str) -> bool:
    """May ``role`` produce the file ``output`` (a key of :data:`UNMASKED_OUTPUTS`)?"""
    if output not in UNMASKED_OUTPUTS:
        raise ValueError(f"unknown unmasked output {output!r}; outputs are {', '.join(UNMASKED_OUTPUTS)}")
    return all(can_reveal(kind, role) for kind in UNMASKED_OUTPUTS[output])


def check_unmasked_output(output: str, *, role: str, reason: str | None) -> str:
    """The reason (stripped) if ``role`` may produce ``output``; :class:`Forbidden` or
    :class:`ReasonRequired` otherwise. A reason needs a visible character (not only spaces or
    zero-width marks)."""
    if not may_unmask_output(output, role):
        kinds = ", ".join(UNMASKED_OUTPUTS[output])
        raise Forbidden(f"role {role} may not have the {output.replace('_', ' ')} built: it carries {kinds} "
                        "unmasked, which only roles that may unmask them all receive")
    text = (reason or "").strip()
    if not any(ch.isprintable() and not ch.isspace() for ch in text):
        raise ReasonRequired(f"say why the {output.replace('_', ' ')} is needed (reason): it carries personal "
                             "data unmasked and the reason is kept in the audit log")
    return text


# --------------------------------------------------------------------------------------------
# Audit chain

#: prev_hash of the first record.
GENESIS_HASH = "0" * 64


def json_safe(value: Any, *, path: str = "detail") -> Any:
    """``value`` as plain JSON data (dict with str keys, list, str, int, bool, None).

    Decimals become strings and dates ISO strings, so the stored detail reads back identically
    on every backend. Floats are refused: they have no single canonical form (and money is never
    a float).
    """
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        raise ValueError(f"{path}: floats are not allowed in audit details (use int or Decimal)")
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"{path}: {value} is not a finite number")
        return str(value)
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError(f"{path}: naive datetime refused")
        return value.astimezone(UTC).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise ValueError(f"{path}: keys must be strings, got {k!r}")
            out[k] = json_safe(v, path=f"{path}.{k}")
        return out
    if isinstance(value, list | tuple):
        return [json_safe(v, path=f"{path}[{i}]") for i, v in enumerate(value)]
    raise ValueError(f"{path}: {type(value).__name__} cannot be stored in an audit detail")


def canonical_at(at: datetime) -> str:
    if at.tzinfo is None:
        raise ValueError("naive datetime refused")
    return at.astimezone(UTC).isoformat(timespec="microseconds")


def canonical_record(
    *, seq: int, at: datetime, actor: str, action: str, entity: str, entity_id: str | None, detail: Any
) -> str:
    """The one serialisation of a record that its hash covers: JSON, sorted keys, no spaces, UTF-8."""
    doc = {
        "seq": seq,
        "at": canonical_at(at),
        "actor": actor,
        "action": action,
        "entity": entity,
        "entity_id": entity_id,
        "detail": json_safe(detail),
    }
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def chain_hash(canonical: str, prev_hash: str) -> str:
    """sha256 over the previous record's hash and this record's canonical form (records without a key)."""
    return hashlib.sha256(f"{prev_hash}\n{canonical}".encode()).hexdigest()


# -- keyed chain: HMAC-SHA256 with a key held outside the store --------------------------------

#: Shortest audit key accepted (characters of the key text; ``arrears audit keygen`` writes 64 hex digits).
MIN_KEY_LENGTH = 32
CHECKPOINT_VERSION = 1
#: Domain separation: a checkpoint's MAC can never be mistaken for a record's.
_CHECKPOINT_CONTEXT = b"arrears audit checkpoint v1\n"


def key_id(key: bytes) -> str:
    """The public name of a key, stored with each record it signs (16 hex digits; reveals nothing of it)."""
    return hashlib.sha256(b"arrears audit key id\n" + key).hexdigest()[:16]


def keyed_hash(key: bytes, canonical: str, prev_hash: str) -> str:
    """HMAC-SHA256 with the audit key over the previous record's hash and this record's canonical form."""
    return hmac.new(key, f"{prev_hash}\n{canonical}".encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Keyring:
    """The audit keys: ``current`` signs new records and checkpoints; every key in ``keys`` verifies."""

    current: str
    keys: Mapping[str, bytes]

    @classmethod
    def of(cls, *secrets: bytes) -> Keyring:
        """The first secret signs; the others are retired keys that only verify older records."""
        if not secrets:
            raise ValueError("an audit keyring needs at least one key")
        for s in secrets:
            if len(s) < MIN_KEY_LENGTH:
                raise ValueError(f"an audit key must be at least {MIN_KEY_LENGTH} characters long")
        return cls(current=key_id(secrets[0]), keys={key_id(s): s for s in secrets})

    @property
    def current_key(self) -> bytes:
        return self.keys[self.current]


@dataclass(frozen=True)
class ChainRow:
    seq: int
    at: datetime
    actor: str
    action: str
    entity: str
    entity_id: str | None
    detail: Any
    prev_hash: str
    hash: str
    #: id of the key whose HMAC ``hash`` is; None: plain sha256 (written without a key)
    key_id: str | None = None

    def canonical(self) -> str:
        return canonical_record(seq=self.seq, at=self.at, actor=self.actor, action=self.action, entity=self.entity,
                                entity_id=self.entity_id, detail=self.detail)

    def expected_hash(self, key: bytes | None = None) -> str:
        """The hash the record must carry: sha256 without a key, HMAC with ``key``."""
        if key is None:
            return chain_hash(self.canonical(), self.prev_hash)
        return keyed_hash(key, self.canonical(), self.prev_hash)


@dataclass(frozen=True)
class Checkpoint:
    """A signed statement, kept outside the store: "record ``seq`` of the chain has hash ``hash``".

    ``keyed_from``: the first record signed with a key; every later record must be signed.
    ``prev``: the MAC of the line before it in the checkpoint file ("" for the first line), so
    lines cannot be removed or reordered without notice. ``where``: file and line, for messages.
    """

    seq: int
    hash: str
    at: datetime
    keyed_from: int | None
    key_id: str
    prev: str
    mac: str
    where: str = ""

    def fields(self) -> dict[str, Any]:
        return {"v": CHECKPOINT_VERSION, "seq": self.seq, "hash": self.hash, "at": canonical_at(self.at),
                "keyed_from": self.keyed_from, "key_id": self.key_id, "prev": self.prev}

    def line(self) -> str:
        """The checkpoint as one line of JSON (the file's format; docs/security.md)."""
        return json.dumps({**self.fields(), "mac": self.mac}, sort_keys=True, separators=(",", ":"))


def _checkpoint_mac(key: bytes, fields: Mapping[str, Any]) -> str:
    message = json.dumps(dict(fields), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hmac.new(key, _CHECKPOINT_CONTEXT + message.encode(), hashlib.sha256).hexdigest()


def sign_checkpoint(keyring: Keyring, *, seq: int, hash: str, at: datetime, keyed_from: int | None,
                    prev: str) -> Checkpoint:
    unsigned = Checkpoint(seq=seq, hash=hash, at=at, keyed_from=keyed_from, key_id=keyring.current, prev=prev, mac="")
    return replace(unsigned, mac=_checkpoint_mac(keyring.current_key, unsigned.fields()))


def parse_checkpoints(lines: Iterable[str], keyring: Keyring, *, source: str) -> tuple[list[Checkpoint], list[Problem]]:
    """The genuine checkpoints among ``lines`` (one JSON object a line) and what is wrong with the others.

    A line that does not parse, is signed with an unknown key or whose MAC does not verify is a
    ``bad_checkpoint`` and is not used; a genuine line whose ``prev`` is not the MAC of the line
    before it is kept, and the gap reported (lines removed, inserted or reordered).
    """
    good: list[Checkpoint] = []
    problems: list[Problem] = []
    prev_mac = ""
    for number, text in enumerate(lines, start=1):
        if not text.strip():
            continue
        where = f"{source}:{number}"
        try:
            doc = json.loads(text)
            cp = Checkpoint(seq=int(doc["seq"]), hash=str(doc["hash"]), at=datetime.fromisoformat(doc["at"]),
                            keyed_from=None if doc["keyed_from"] is None else int(doc["keyed_from"]),
                            key_id=str(doc["key_id"]), prev=str(doc["prev"]), mac=str(doc["mac"]), where=where)
            if doc.get("v") != CHECKPOINT_VERSION or cp.at.tzinfo is None:
                raise ValueError(f"unknown version {doc.get('v')!r} or naive time")
        except (ValueError, KeyError, TypeError) as exc:
            problems.append(Problem(0, "bad_checkpoint", f"{where}: not a checkpoint ({exc})"))
            prev_mac = None  # type: ignore[assignment]  # the next line cannot be said to follow it
            continue
        key = keyring.keys.get(cp.key_id)
        if key is None:
            problems.append(Problem(cp.seq, "bad_checkpoint",
                                    f"{where}: signed with key {cp.key_id}, which is not configured"))
        elif not hmac.compare_digest(_checkpoint_mac(key, cp.fields()), cp.mac):
            problems.append(Problem(cp.seq, "bad_checkpoint",
                                    f"{where}: signature does not verify: the line was changed or forged"))
        else:
            if prev_mac is not None and cp.prev != prev_mac:
                problems.append(Problem(cp.seq, "bad_checkpoint",
                                        f"{where}: does not follow the line before it: checkpoint lines were "
                                        "removed, inserted or reordered"))
            good.append(cp)
        prev_mac = cp.mac
    return good, problems


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the audit chain. ``seq`` names the record (the first one of a gap or run).

    Kinds: ``changed``, ``deleted``, ``inserted``, ``broken_link``, ``head``, ``truncated``,
    ``rewound``, ``rewritten``, ``reordered``, ``unverifiable``, ``unknown_key``, ``bad_checkpoint``
    (docs/security.md, "Checking the chain").
    """

    seq: int
    kind: str
    message: str

    def __str__(self) -> str:
        return f"seq {self.seq}: {self.kind}: {self.message}"


@dataclass
class ChainReport:
    """What :func:`check_chain` found: ``problems`` (empty: intact) and ``notes`` on what it could not check."""

    problems: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    records: int = 0
    signed: int = 0
    unsigned: int = 0
    last_seq: int = 0
    first_signed_seq: int | None = None
    latest_checkpoint: Checkpoint | None = None
    omitted: int = 0

    @property
    def intact(self) -> bool:
        return not self.problems

    def add(self, problem: Problem) -> None:
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(problem)
        else:
            self.omitted += 1


#: Problems listed one by one; more are counted (a rewritten chain of millions is one run anyway).
MAX_PROBLEMS = 1000
#: How far a record's time may lie before its predecessor's (several hosts' clocks) before it is "reordered".
DEFAULT_CLOCK_SKEW = timedelta(minutes=5)


def _span(first: int, last: int) -> str:
    return f"seq {first}" if first == last else f"seq {first}–{last}"


def check_chain(
    rows: Iterable[ChainRow], *, head_seq: int | None, head_hash: str | None, keyring: Keyring | None = None,
    checkpoints: Iterable[Checkpoint] = (), clock_skew: timedelta = DEFAULT_CLOCK_SKEW,
    start: Checkpoint | None = None,
) -> ChainReport:
    """Walk ``rows`` in seq order (streamed: memory does not grow with the chain) and name every fault.

    ``head_seq``/``head_hash``: what the chain head says the last record is (None: no head row).
    ``keyring``: the audit keys (None: records signed with a key cannot be checked). ``checkpoints``:
    the genuine signed checkpoints (:func:`parse_checkpoints`). ``start``: begin at this checkpoint's
    record instead of seq 1 (an incremental check; ``rows`` then start at ``start.seq``).

    Per record: its own hash (sha256, or HMAC with the key it names); its link to the record before;
    a record without a key after the first keyed one (or from the checkpoints' ``keyed_from``) is not
    signed; its time not earlier than its predecessor's by more than ``clock_skew``; its hash equal to
    every checkpoint at its seq. At the end: the head, and checkpoints beyond the end (truncation).
    """
    report = ChainReport()
    cps = sorted(checkpoints, key=lambda c: c.seq)
    by_seq: dict[int, list[Checkpoint]] = {}
    for cp in cps:
        by_seq.setdefault(cp.seq, []).append(cp)
    latest = cps[-1] if cps else None
    report.latest_checkpoint = latest
    anchored = latest.seq if latest else 0
    signed_from = min((c.keyed_from for c in cps if c.keyed_from is not None), default=None)
    expected_seq = start.seq if start else 1
    prev_hash: str | None = None if start else GENESIS_HASH
    last: ChainRow | None = None
    last_flagged = False
    first_seq: int | None = None
    run: list[Any] | None = None  # [kind, first seq, last seq, message]
    signed_seen = start is not None and start.keyed_from is not None and start.keyed_from <= start.seq

    def flush() -> None:
        nonlocal run
        if run is not None:
            kind, first, end, message = run
            if kind == "unsigned":
                kind = "rewritten" if first <= max(anchored, first_seq or 1) else "inserted"
                message = (f"{end - first + 1:,} record(s) {message}" + (
                    f" after the last checkpoint (seq {anchored})" if kind == "inserted" and anchored
                    else ": the chain was rewritten without the key" if kind == "rewritten" else ""))
            report.add(Problem(first, kind, f"{_span(first, end)}: {message}"))
            run = None

    def flag(kind: str, seq: int, message: str) -> None:
        nonlocal run
        if run is not None and (run[0] != kind or run[2] != seq - 1 or run[3] != message):
            flush()
        if run is None:
            run = [kind, seq, seq, message]
        else:
            run[2] = seq

    for row in rows:
        if first_seq is None:
            first_seq = row.seq
        report.records += 1
        gap = row.seq > expected_seq
        if gap:
            flush()
            report.add(Problem(expected_seq, "deleted", f"{_span(expected_seq, row.seq - 1)} missing: "
                                                        f"record(s) deleted before seq {row.seq}"))
        flagged = False
        own_ok = True
        try:
            if row.key_id is None:
                own_ok = row.expected_hash() == row.hash
                must_sign = signed_seen or (signed_from is not None and row.seq >= signed_from)
                if not own_ok:
                    flush()
                    report.add(Problem(row.seq, "changed",
                                       "stored hash does not match the record: its contents were changed"))
                    flagged = True
                elif must_sign:
                    flag("unsigned", row.seq, "not signed with the audit key although the chain is signed from "
                                              f"seq {signed_from or report.first_signed_seq}")
                    flagged, own_ok = True, False
                else:
                    report.unsigned += 1
            else:
                signed_seen = True
                if report.first_signed_seq is None:
                    report.first_signed_seq = row.seq
                key = keyring.keys.get(row.key_id) if keyring else None
                if keyring is None:
                    flag("unverifiable", row.seq, f"signed with audit key {row.key_id}, but no audit key is "
                                                  "configured: these records cannot be checked")
                    flagged = True
                elif key is None:
                    flag("unknown_key", row.seq, f"signed with key {row.key_id}, which is not configured "
                                                 "(a retired key missing from the key file, or forged)")
                    flagged, own_ok = True, False
                elif hmac.compare_digest(row.expected_hash(key), row.hash):
                    report.signed += 1
                else:
                    flag("unsigned", row.seq, "whose keyed hash does not match: changed or forged without the key")
                    flagged, own_ok = True, False
        except ValueError as exc:
            flush()
            own_ok, flagged = False, True
            report.add(Problem(row.seq, "changed", f"detail cannot be serialised: {exc}"))
        if not flagged:
            flush()
        if prev_hash is not None and row.prev_hash != prev_hash and not gap:
            if last is not None and own_ok and not last_flagged:
                report.add(Problem(last.seq, "changed",
                                   f"seq {row.seq} links to a different hash: seq {last.seq} was changed, "
                                   f"replaced or inserted (its hash was recomputed)"))
            elif last is None:
                report.add(Problem(row.seq, "broken_link", "first record does not start from the genesis hash"))
            elif not flagged:
                report.add(Problem(row.seq, "broken_link", f"prev_hash does not link to seq {last.seq}"))
        if last is not None and row.at < last.at - clock_skew:
            report.add(Problem(row.seq, "reordered",
                               f"dated {canonical_at(row.at)}, before seq {last.seq} ({canonical_at(last.at)}): "
                               "records reordered or backdated"))
        for cp in by_seq.get(row.seq, ()):
            if cp.hash != row.hash and not flagged:
                report.add(Problem(row.seq, "rewound",
                                   f"hash differs from the checkpoint signed {canonical_at(cp.at)} ({cp.where}): "
                                   f"the chain was cut back to before seq {row.seq} and written again"))
        prev_hash = row.hash
        expected_seq = row.seq + 1
        last, last_flagged = row, flagged
    flush()
    last_seq = last.seq if last else (start.seq - 1 if start else 0)
    report.last_seq = last_seq
    if start is not None and (first_seq is None or first_seq > start.seq):
        report.add(Problem(start.seq, "truncated" if last is None else "deleted",
                           f"record seq {start.seq} of the checkpoint signed {canonical_at(start.at)} "
                           f"({start.where}) is missing"))
    if latest is not None and latest.seq > last_seq:
        report.add(Problem(last_seq + 1, "truncated",
                           f"the chain ends at seq {last_seq} but the checkpoint signed {canonical_at(latest.at)} "
                           f"({latest.where}) recorded seq {latest.seq}: records deleted from the end"
                           + (" and the head rewound" if head_seq is not None and head_seq < latest.seq else "")))
    if head_seq is None:
        if last is not None:
            report.add(Problem(last_seq, "head", "chain head missing: the end of the chain cannot be checked"))
    elif last_seq > head_seq:
        report.add(Problem(head_seq + 1, "inserted", f"{_span(head_seq + 1, last_seq)} after the chain head "
                                                     f"(last recorded seq {head_seq}): inserted records"))
    elif last_seq < head_seq:
        report.add(Problem(last_seq + 1, "deleted",
                           f"{_span(last_seq + 1, head_seq)} missing at the end of the chain: records deleted"))
    elif head_seq and last is not None and last.hash != head_hash:
        report.add(Problem(head_seq, "changed", "hash differs from the one the chain head recorded"))
    if report.omitted:
        report.problems.append(Problem(0, "more", f"{report.omitted:,} further problem(s) not listed"))
    return report


def verify_rows(rows: Any, *, head_seq: int | None, head_hash: str | None, **kwargs: Any) -> list[Problem]:
    """The problems :func:`check_chain` finds (empty: intact)."""
    return check_chain(rows, head_seq=head_seq, head_hash=head_hash, **kwargs).problems
