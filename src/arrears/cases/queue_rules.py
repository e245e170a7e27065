"""Teams, assignment rules and agents' skills and capacity as one YAML file, validated at load
with errors that name the file, the line and the field, then applied to the store in one go.

File format::

    teams:                      # assignment rules: a new case goes to the first team whose skill
      - code: early             # matches it (skills are tried by priority, then file order)
        name: Early arrears
        skills:
          - {buckets: M1-M2, languages: [zh_CN], products: [classic, gold], priority: 10}
    agents:                     # existing users (``arrears users add``)
      - username: li.na
        capacity: 3             # cases held at once
        skills:                 # optional: narrows the user's queue within their team
          - {buckets: M1-M1}

``buckets`` is one bucket (``M2``) or an inclusive range (``M1-M3``); ``languages`` and
``products`` are optional lists (absent = any). ``priority`` defaults to 100 (lower goes first).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from os import PathLike

import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session

from arrears.auth.service import get_or_create_team, record
from arrears.auth.tables import User
from arrears.cases.queue import BUCKET_ORDER, Skill, set_skills
from arrears.kit.errors import ConfigError
from arrears.kit.yamlfile import compose_file, line_of, mapping, reject_unknown, text, whole_number

_CODE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")
_SKILL_KEYS = ("buckets", "languages", "products", "priority")


@dataclass(frozen=True)
class TeamRule:
    code: str
    name: str
    skills: tuple[Skill, ...]
    line: int


@dataclass(frozen=True)
class AgentRule:
    username: str
    capacity: int | None
    skills: tuple[Skill, ...] | None  # None: leave the user's skills as they are
    line: int


@dataclass(frozen=True)
class QueueRules:
    file: str
    teams: tuple[TeamRule, ...]
    agents: tuple[AgentRule, ...]


def _text(node: yaml.Node, *, file: str, field: str) -> str:
    return text(node, file=file, field=field).strip()


def _texts(node: yaml.Node, *, file: str, field: str) -> tuple[str, ...]:
    if not isinstance(node, yaml.SequenceNode) or not node.value:
        raise ConfigError("must be a non-empty list", file=file, line=line_of(node), field=field)
    return tuple(_text(item, file=file, field=f"{field}[{i}]") for i, item in enumerate(node.value))


def _buckets(node: yaml.Node, *, file: str, field: str) -> tuple[str, str]:
    written = _text(node, file=file, field=field)
    first, _, last = written.partition("-") if written.count("-") == 1 else (written, "", written)
    first, last = first.strip(), last.strip()
    for b in (first, last):
        if b not in BUCKET_ORDER:
            raise ConfigError(f"unknown bucket {b!r} (buckets: {', '.join(BUCKET_ORDER)})", file=file,
                              line=line_of(node), field=field)
    if BUCKET_ORDER.index(first) > BUCKET_ORDER.index(last):
        raise ConfigError(f"bucket range {written!r} is inverted", file=file, line=line_of(node), field=field)
    return first, last


def _skills(node: yaml.Node, *, file: str, field: str) -> tuple[Skill, ...]:
    if not isinstance(node, yaml.SequenceNode):
        raise ConfigError("must be a list of skills", file=file, line=line_of(node), field=field)
    out = []
    for i, item in enumerate(node.value):
        where = f"{field}[{i}]"
        entry = mapping(item, file=file, field=where)
        reject_unknown(entry, _SKILL_KEYS, file=file, prefix=where)
        if "buckets" not in entry:
            raise ConfigError("a skill needs buckets", file=file, line=line_of(item), field=f"{where}.buckets")
        first, last = _buckets(entry["buckets"][1], file=file, field=f"{where}.buckets")
        languages = _texts(entry["languages"][1], file=file, field=f"{where}.languages") \
            if "languages" in entry else None
        products = _texts(entry["products"][1], file=file, field=f"{where}.products") if "products" in entry else None
        priority = whole_number(entry["priority"][1], file=file, field=f"{where}.priority") \
            if "priority" in entry else 100
        out.append(Skill(first, last, languages, products, priority))
    return tuple(out)


def load_queue_rules(path: str | PathLike[str]) -> QueueRules:
    file, root = compose_file(path)
    if root is None:
        raise ConfigError("the file is empty", file=file, line=1)
    top = mapping(root, file=file, field=None)
    reject_unknown(top, ("teams", "agents"), file=file, prefix="")
    teams: list[TeamRule] = []
    agents: list[AgentRule] = []
    seen: dict[str, int] = {}
    if "teams" in top:
        node = top["teams"][1]
        if not isinstance(node, yaml.SequenceNode):
            raise ConfigError("must be a list of teams", file=file, line=line_of(node), field="teams")
        for i, item in enumerate(node.value):
            where = f"teams[{i}]"
            entry = mapping(item, file=file, field=where)
            reject_unknown(entry, ("code", "name", "skills"), file=file, prefix=where)
            if "code" not in entry:
                raise ConfigError("a team needs a code", file=file, line=line_of(item), field=f"{where}.code")
            code = _text(entry["code"][1], file=file, field=f"{where}.code")
            if not _CODE.match(code):
                raise ConfigError("a team code is 1-32 lower-case letters, digits, - or _", file=file,
                                  line=line_of(entry["code"][1]), field=f"{where}.code")
            if code in seen:
                raise ConfigError(f"team {code!r} is already defined on line {seen[code]}", file=file,
                                  line=line_of(item), field=f"{where}.code")
            seen[code] = line_of(item)
            name = _text(entry["name"][1], file=file, field=f"{where}.name") if "name" in entry else code
            skills = _skills(entry["skills"][1], file=file, field=f"{where}.skills") if "skills" in entry else ()
            teams.append(TeamRule(code, name, skills, line_of(item)))
    if "agents" in top:
        node = top["agents"][1]
        if not isinstance(node, yaml.SequenceNode):
            raise ConfigError("must be a list of agents", file=file, line=line_of(node), field="agents")
        names: dict[str, int] = {}
        for i, item in enumerate(node.value):
            where = f"agents[{i}]"
            entry = mapping(item, file=file, field=where)
            reject_unknown(entry, ("username", "capacity", "skills"), file=file, prefix=where)
            if "username" not in entry:
                raise ConfigError("an agent needs a username", file=file, line=line_of(item),
                                  field=f"{where}.username")
            username = _text(entry["username"][1], file=file, field=f"{where}.username")
            if username in names:
                raise ConfigError(f"agent {username!r} is already listed on line {names[username]}", file=file,
                                  line=line_of(item), field=f"{where}.username")
            names[username] = line_of(item)
            capacity = whole_number(entry["capacity"][1], file=file, field=f"{where}.capacity", minimum=1) \
                if "capacity" in entry else None
            skills = _skills(entry["skills"][1], file=file, field=f"{where}.skills") if "skills" in entry else None
            agents.append(AgentRule(username, capacity, skills, line_of(item)))
    return QueueRules(file, tuple(teams), tuple(agents))


def apply_queue_rules(session: Session, rules: QueueRules, *, actor: str) -> dict[str, int]:
    """Create missing teams, replace each listed team's and agent's skills, set capacities; one
    audit record. Unknown or inactive users are refused (naming the file and line) before anything
    is written."""
    users = {u.username: u for u in session.scalars(
        select(User).where(User.username.in_([a.username for a in rules.agents])))}
    for agent in rules.agents:
        user = users.get(agent.username)
        if user is None or not user.active:
            raise ConfigError(f"no active user {agent.username!r}", file=rules.file, line=agent.line,
                              field="username")
    for team in rules.teams:
        row = get_or_create_team(session, code=team.code, name=team.name, actor=actor)
        if row.name != team.name:
            row.name = team.name
        set_skills(session, team_id=row.id, skills=team.skills)
    for agent in rules.agents:
        user = users[agent.username]
        if agent.capacity is not None:
            user.capacity = agent.capacity
        if agent.skills is not None:
            set_skills(session, user_id=user.id, skills=agent.skills)
    session.flush()
    summary = {"teams": len(rules.teams), "team_skills": sum(len(t.skills) for t in rules.teams),
               "agents": len(rules.agents)}
    record(session, actor=actor, action="queue.rules", entity="queue_rules", entity_id=None,
           detail={**summary, "file": rules.file[-200:]})
    return summary


def describe(skill: Skill) -> str:
    span = skill.bucket_from if skill.bucket_from == skill.bucket_to else f"{skill.bucket_from}-{skill.bucket_to}"
    parts = [span]
    if skill.languages:
        parts.append("languages " + ",".join(skill.languages))
    if skill.products:
        parts.append("products " + ",".join(skill.products))
    return f"{'; '.join(parts)} (priority {skill.priority})"

