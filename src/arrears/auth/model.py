"""Roles, data scopes, masking of personal data and the audit chain's canonical form.

Pure: no database, no I/O. The service layer (``service.py``) applies these rules to the store.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
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


def check_role(role: str) -> Role:
    try:
        return Role(role)
    except ValueError:
        raise ValueError(f"unknown role {role!r}; roles are {', '.join(ROLES)}") from None


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
    """sha256 over the previous record's hash and this record's canonical form."""
    return hashlib.sha256(f"{prev_hash}\n{canonical}".encode()).hexdigest()


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

    def expected_hash(self) -> str:
        canonical = canonical_record(seq=self.seq, at=self.at, actor=self.actor, action=self.action,
                                     entity=self.entity, entity_id=self.entity_id, detail=self.detail)
        return chain_hash(canonical, self.prev_hash)


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the audit chain. ``seq`` names the record (the first one of a gap)."""

    seq: int
    kind: str  # changed | deleted | inserted | broken_link | head
    message: str

    def __str__(self) -> str:
        return f"seq {self.seq}: {self.kind}: {self.message}"


def verify_rows(rows: Any, *, head_seq: int | None, head_hash: str | None) -> list[Problem]:
    """Walk rows in seq order and name every changed, deleted or inserted record.

    ``head_seq``/``head_hash``: what the chain head says the last record is (None: no head row).
    A forger who appends a self-consistent record at the end is caught by the head; one who
    replaces a record in the middle by the next record's broken link.
    """
    problems: list[Problem] = []
    expected_seq = 1
    prev_hash = GENESIS_HASH
    last: ChainRow | None = None
    hashes: dict[int, str] = {}
    for row in rows:
        gap = row.seq > expected_seq
        if gap:
            first, end = expected_seq, row.seq - 1
            span = f"seq {first}" if first == end else f"seq {first}–{end}"
            problems.append(Problem(first, "deleted", f"{span} missing: record(s) deleted before seq {row.seq}"))
        elif row.seq < expected_seq:  # pragma: no cover - seq is the primary key, so ordered and unique
            problems.append(Problem(row.seq, "inserted", "out of order"))
        try:
            own_ok = row.expected_hash() == row.hash
        except ValueError as exc:
            own_ok = False
            problems.append(Problem(row.seq, "changed", f"detail cannot be serialised: {exc}"))
        else:
            if not own_ok:
                problems.append(Problem(row.seq, "changed",
                                        "stored hash does not match the record: its contents were changed"))
        if row.prev_hash != prev_hash and not gap:
            if last is not None and own_ok:
                problems.append(Problem(last.seq, "changed",
                                        f"seq {row.seq} links to a different hash: seq {last.seq} was changed, "
                                        f"replaced or inserted (its hash was recomputed)"))
            elif last is None:
                problems.append(Problem(row.seq, "broken_link", "first record does not start from the genesis hash"))
            else:
                problems.append(Problem(row.seq, "broken_link", f"prev_hash does not link to seq {last.seq}"))
        hashes[row.seq] = row.hash
        prev_hash = row.hash
        expected_seq = row.seq + 1
        last = row
    last_seq = last.seq if last else 0
    if head_seq is None:
        if last is not None:
            problems.append(Problem(last_seq, "head", "chain head missing: the end of the chain cannot be checked"))
        return problems
    if last_seq > head_seq:
        first = head_seq + 1
        span = f"seq {first}" if first == last_seq else f"seq {first}–{last_seq}"
        problems.append(Problem(first, "inserted",
                                f"{span} after the chain head (last recorded seq {head_seq}): inserted records"))
    elif last_seq < head_seq:
        first = last_seq + 1
        span = f"seq {first}" if first == head_seq else f"seq {first}–{head_seq}"
        problems.append(Problem(first, "deleted", f"{span} missing at the end of the chain: records deleted"))
    elif head_seq and hashes.get(head_seq) != head_hash:
        problems.append(Problem(head_seq, "changed", "hash differs from the one the chain head recorded"))
    return problems
