"""Champion/challenger experiments: arms and shares, stable assignment, attribution and the read-out.

Assignment
----------
An account's *bucket* in an experiment is ``int(sha256(f"{salt}:{account_id}")[:8 hex], 16) % 10000``:
the first 32 bits of the SHA-256 of the UTF-8 text, reduced to 0..9999. The arms own consecutive
ranges of buckets in the order they are listed (cumulative shares in basis points), so the first
arm with ``bucket < its cumulative share`` is the account's arm. The bucket depends only on the
salt and the account id, so an account never changes arm between runs, processes or engines:
the same figure is computed by :func:`bucket_of` (Python), :func:`bucket_sql` with
``dialect="duckdb"`` (DuckDB's ``sha256``) and with ``dialect="spark"`` (Spark's ``sha2(…, 256)``
and ``conv``). 2**32 is not a multiple of 10,000, so buckets 0..7295 are 1/429,497 more likely
than the others: a bias of 2.3e-6 relative, far below anything a read-out can see.

Changing shares moves only the accounts whose bucket lies between an old and a new boundary
(:func:`moved_share_bp` counts them). Moving the boundary between two *adjacent* arms moves only
accounts between those two arms; growing the first arm of three shifts every later range and
moves more. Give each experiment its own salt so experiments are independent of each other;
changing the salt re-deals every account (a new experiment, in effect).

Read-out
--------
Per arm: accounts ``n``; cure rate and roll rate with Wilson score intervals; amount recovered
per account (mean of integer fen in ``Decimal``, normal-approximation interval, and a seeded
percentile bootstrap as a check); contacts per account (mean, normal interval); complaints per
1,000 accounts (exact Poisson interval, Garwood). Each challenger is compared with the champion:
rate differences with Newcombe's hybrid score interval (Newcombe 1998, method 10, built from the
two Wilson intervals), differences of means with a Welch normal interval, the difference of
complaint rates with a normal (Poisson variance) interval.
"""

from __future__ import annotations

import hashlib
import math
import re
from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal
from os import PathLike
from typing import Literal

import yaml
from scipy import stats

from arrears.kit.errors import ArrearsError, ConfigError
from arrears.kit.yamlfile import STR_TAG, compose_file, line_of, mapping, whole_number

__all__ = [
    "BASIS_POINTS",
    "Arm",
    "ArmReadout",
    "ArmStats",
    "Difference",
    "Estimate",
    "Experiment",
    "ExperimentError",
    "Outcome",
    "Readout",
    "arm_stats",
    "arm_stats_from_rows",
    "arm_stats_sql",
    "assign",
    "assign_codes",
    "assignment_sql",
    "attribute",
    "bucket_of",
    "bucket_sql",
    "experiment_from_node",
    "load_experiments",
    "moved_share_bp",
    "newcombe_difference",
    "poisson_interval",
    "readout",
    "readout_of_outcomes",
    "wilson_interval",
]

#: Shares are whole basis points and sum to this.
BASIS_POINTS = 10_000
#: Hex digits of the SHA-256 taken for the bucket (32 bits: fits every engine's BIGINT).
HEX_DIGITS = 8

_CODE_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}", re.ASCII)
# The salt is embedded in SQL text as a literal, so it is kept to characters that need no escaping
# in any dialect (Spark and DuckDB disagree on quote escapes).
_SALT_RE = re.compile(r"[A-Za-z0-9_.:-]{1,64}", re.ASCII)
_IDENT_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?", re.ASCII)

Dialect = Literal["duckdb", "spark"]


class ExperimentError(ArrearsError):
    """An experiment, an arm or an outcome is not valid."""

    status = 422


# ---------------------------------------------------------------------------------------------
# Experiments and arms


@dataclass(frozen=True)
class Arm:
    """One arm: its code, its share in basis points, and what it changes for its accounts
    (the strategy to run instead of the champion's, or a segment to place them in)."""

    code: str
    share_bp: int
    strategy: str | None = None
    segment: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.code, str) or not _CODE_RE.fullmatch(self.code):
            raise ExperimentError(f"arm code {self.code!r} must be 1-64 letters, digits, '_', '.' or '-'")
        if isinstance(self.share_bp, bool) or not isinstance(self.share_bp, int):
            raise ExperimentError(f"arm {self.code}: share_bp must be a whole number of basis points")
        if not 0 <= self.share_bp <= BASIS_POINTS:
            raise ExperimentError(f"arm {self.code}: share_bp must be 0..{BASIS_POINTS}, got {self.share_bp}")

    @classmethod
    def with_share(cls, code: str, share: Decimal | str, **overrides: str | None) -> Arm:
        """An arm whose share is a fraction (``Decimal("0.25")`` or ``"0.25"``) with at most four
        decimals, i.e. a whole number of basis points. Floats are refused."""
        if isinstance(share, float):
            raise ExperimentError(f"arm {code}: give the share as Decimal or text, never float")
        bp = Decimal(share) * BASIS_POINTS
        if bp != bp.to_integral_value():
            raise ExperimentError(f"arm {code}: share {share} is not a whole number of basis points")
        return cls(code, int(bp), **overrides)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Experiment:
    """An experiment: arms in bucket order, the salt of its hash, optional start and end dates
    (inclusive) and its champion (by default the first arm)."""

    code: str
    arms: tuple[Arm, ...]
    salt: str
    start: date | None = None
    end: date | None = None
    champion: str | None = None
    _bounds: tuple[int, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.code, str) or not _CODE_RE.fullmatch(self.code):
            raise ExperimentError(f"experiment code {self.code!r} must be 1-64 letters, digits, '_', '.' or '-'")
        if not isinstance(self.salt, str) or not _SALT_RE.fullmatch(self.salt):
            raise ExperimentError(f"experiment {self.code}: salt must be 1-64 letters, digits, '_', '.', ':' or '-'")
        arms = tuple(self.arms)
        object.__setattr__(self, "arms", arms)
        if not arms:
            raise ExperimentError(f"experiment {self.code}: at least one arm")
        if not all(isinstance(a, Arm) for a in arms):
            raise ExperimentError(f"experiment {self.code}: arms must be Arm objects")
        codes = [a.code for a in arms]
        dupes = sorted({c for c in codes if codes.count(c) > 1})
        if dupes:
            raise ExperimentError(f"experiment {self.code}: duplicate arm code(s) {', '.join(dupes)}")
        total = sum(a.share_bp for a in arms)
        if total != BASIS_POINTS:
            raise ExperimentError(f"experiment {self.code}: arm shares sum to {total} bp, must be {BASIS_POINTS}")
        if self.champion is not None and self.champion not in codes:
            raise ExperimentError(f"experiment {self.code}: champion {self.champion!r} is not one of its arms")
        if self.start is not None and self.end is not None and self.end < self.start:
            raise ExperimentError(f"experiment {self.code}: end {self.end} is before start {self.start}")
        bounds, running = [], 0
        for arm in arms:
            running += arm.share_bp
            bounds.append(running)
        object.__setattr__(self, "_bounds", tuple(bounds))

    @property
    def champion_arm(self) -> Arm:
        code = self.champion or self.arms[0].code
        return next(a for a in self.arms if a.code == code)

    @property
    def challengers(self) -> tuple[Arm, ...]:
        champion = self.champion_arm.code
        return tuple(a for a in self.arms if a.code != champion)

    @property
    def boundaries(self) -> tuple[int, ...]:
        """Cumulative shares: arm ``i`` owns buckets ``boundaries[i-1] <= b < boundaries[i]``."""
        return self._bounds

    def arm_for_bucket(self, bucket: int) -> Arm:
        if not 0 <= bucket < BASIS_POINTS:
            raise ExperimentError(f"bucket must be 0..{BASIS_POINTS - 1}, got {bucket}")
        return self.arms[bisect_right(self._bounds, bucket)]

    def arm(self, code: str) -> Arm:
        for a in self.arms:
            if a.code == code:
                return a
        raise ExperimentError(f"experiment {self.code} has no arm {code!r}")

    def active_on(self, day: date) -> bool:
        return (self.start is None or self.start <= day) and (self.end is None or day <= self.end)


# ---------------------------------------------------------------------------------------------
# Assignment: Python, DuckDB and Spark compute the same bucket


def bucket_of(account_id: str | int, salt: str) -> int:
    """0..9999 from the first 32 bits of SHA-256(f"{salt}:{account_id}") (UTF-8)."""
    digest = hashlib.sha256(f"{salt}:{account_id}".encode()).hexdigest()
    return int(digest[:HEX_DIGITS], 16) % BASIS_POINTS


def assign(account_id: str | int, experiment: Experiment) -> Arm:
    """The account's arm: stable for as long as the salt and the arm shares are unchanged."""
    return experiment.arm_for_bucket(bucket_of(account_id, experiment.salt))


def assign_codes(account_ids: Iterable[str | int], experiment: Experiment) -> list[str]:
    """Arm codes of many accounts, in order."""
    arms, bounds, salt = experiment.arms, experiment.boundaries, experiment.salt
    return [arms[bisect_right(bounds, bucket_of(i, salt))].code for i in account_ids]


def _check_sql_inputs(id_sql: str, salt: str) -> None:
    if not _IDENT_RE.fullmatch(id_sql):
        raise ExperimentError(f"id column {id_sql!r} must be a plain column name (optionally table.column)")
    if not _SALT_RE.fullmatch(salt):
        raise ExperimentError(f"salt {salt!r} must be 1-64 letters, digits, '_', '.', ':' or '-'")


def bucket_sql(id_sql: str, salt: str, dialect: Dialect = "duckdb") -> str:
    """The bucket as a SQL expression over the column ``id_sql`` (cast to text), equal to
    :func:`bucket_of` row by row."""
    _check_sql_inputs(id_sql, salt)
    if dialect == "duckdb":
        text = f"'{salt}:' || CAST({id_sql} AS VARCHAR)"
        return f"(CAST('0x' || substr(sha256({text}), 1, {HEX_DIGITS}) AS BIGINT) % {BASIS_POINTS})"
    if dialect == "spark":
        text = f"concat('{salt}:', CAST({id_sql} AS STRING))"
        return (f"pmod(CAST(conv(substring(sha2({text}, 256), 1, {HEX_DIGITS}), 16, 10) AS BIGINT), "
                f"{BASIS_POINTS})")
    raise ExperimentError(f"unknown SQL dialect {dialect!r} (duckdb or spark)")


def assignment_sql(experiment: Experiment, id_sql: str = "account_id", dialect: Dialect = "duckdb") -> str:
    """The arm code as a SQL ``CASE`` over cumulative shares, equal to :func:`assign` row by row."""
    bucket = bucket_sql(id_sql, experiment.salt, dialect)
    live = [(a, b) for a, b in zip(experiment.arms, experiment.boundaries) if a.share_bp > 0]
    whens = " ".join(f"WHEN {bucket} < {b} THEN '{a.code}'" for a, b in live[:-1])
    last = f"'{live[-1][0].code}'"
    return f"(CASE {whens} ELSE {last} END)" if whens else f"({last})"


def moved_share_bp(old: Experiment, new: Experiment) -> int:
    """How many of the 10,000 buckets change arm (by code) from ``old`` to ``new``: the share of
    accounts, in basis points, that a change of shares moves. A different salt moves ~everyone."""
    if old.salt != new.salt:
        raise ExperimentError("the experiments have different salts: every account is re-dealt")
    return sum(1 for b in range(BASIS_POINTS) if old.arm_for_bucket(b).code != new.arm_for_bucket(b).code)


# ---------------------------------------------------------------------------------------------
# Experiments as data (YAML)


def _text(node: yaml.Node, *, file: str, field: str) -> str:
    if not isinstance(node, yaml.ScalarNode) or node.tag != STR_TAG or not node.value:
        raise ConfigError("must be non-empty text", file=file, line=line_of(node), field=field)
    return node.value


def _date(node: yaml.Node, *, file: str, field: str) -> date:
    try:
        if not isinstance(node, yaml.ScalarNode):
            raise ValueError
        return date.fromisoformat(node.value)
    except ValueError:
        shown = node.value if isinstance(node, yaml.ScalarNode) else type(node).__name__
        raise ConfigError(f"must be a date YYYY-MM-DD, got {shown!r}", file=file, line=line_of(node),
                          field=field) from None


def experiment_from_node(node: yaml.Node, *, file: str, field: str = "experiment") -> Experiment:
    """One experiment from a YAML mapping::

        code: early-sms-2026q4
        salt: early-sms-2026q4-v1
        start: 2026-10-01          # optional, inclusive
        end: 2026-12-31            # optional, inclusive
        champion: current          # optional, default the first arm
        arms:
          - {code: current, share_bp: 8000, strategy: std-early}
          - {code: sms-evening, share_bp: 2000, strategy: early-sms-evening}

    Every error names the file, the line and the field.
    """
    keys = mapping(node, file=file, field=field)
    allowed = {"code", "salt", "start", "end", "champion", "arms"}
    for key, (key_node, _) in keys.items():
        if key not in allowed:
            raise ConfigError(f"unknown key (allowed: {', '.join(sorted(allowed))})", file=file,
                              line=line_of(key_node), field=f"{field}.{key}")
    for required in ("code", "salt", "arms"):
        if required not in keys:
            raise ConfigError("missing", file=file, line=line_of(node), field=f"{field}.{required}")
    code = _text(keys["code"][1], file=file, field=f"{field}.code")
    salt = _text(keys["salt"][1], file=file, field=f"{field}.salt")
    start = _date(keys["start"][1], file=file, field=f"{field}.start") if "start" in keys else None
    end = _date(keys["end"][1], file=file, field=f"{field}.end") if "end" in keys else None
    champion = _text(keys["champion"][1], file=file, field=f"{field}.champion") if "champion" in keys else None
    arms_node = keys["arms"][1]
    if not isinstance(arms_node, yaml.SequenceNode) or not arms_node.value:
        raise ConfigError("must be a non-empty list of arms", file=file, line=line_of(arms_node), field=f"{field}.arms")
    arms: list[Arm] = []
    for i, arm_node in enumerate(arms_node.value):
        where = f"{field}.arms[{i}]"
        ak = mapping(arm_node, file=file, field=where)
        for key, (key_node, _) in ak.items():
            if key not in {"code", "share_bp", "strategy", "segment"}:
                raise ConfigError("unknown key (allowed: code, segment, share_bp, strategy)", file=file,
                                  line=line_of(key_node), field=f"{where}.{key}")
        for required in ("code", "share_bp"):
            if required not in ak:
                raise ConfigError("missing", file=file, line=line_of(arm_node), field=f"{where}.{required}")
        try:
            arms.append(Arm(
                _text(ak["code"][1], file=file, field=f"{where}.code"),
                whole_number(ak["share_bp"][1], file=file, field=f"{where}.share_bp"),
                strategy=_text(ak["strategy"][1], file=file, field=f"{where}.strategy") if "strategy" in ak else None,
                segment=_text(ak["segment"][1], file=file, field=f"{where}.segment") if "segment" in ak else None,
            ))
        except ExperimentError as exc:
            raise ConfigError(exc.message, file=file, line=line_of(arm_node), field=where) from None
    try:
        return Experiment(code, tuple(arms), salt, start=start, end=end, champion=champion)
    except ExperimentError as exc:
        # Point at the key the problem is about: the arms for shares, the champion, the end date.
        key = next((k for k, words in (("arms", ("shares", "duplicate arm")), ("champion", ("champion",)),
                                        ("end", ("before start",))) if any(w in exc.message for w in words)), None)
        where = keys[key][0] if key in keys else node
        raise ConfigError(exc.message, file=file, line=line_of(where),
                          field=f"{field}.{key}" if key in keys else field) from None


def load_experiments(path: str | PathLike[str]) -> tuple[Experiment, ...]:
    """A file ``experiments: [<experiment>, ...]``; codes and salts must be unique in the file."""
    file, root = compose_file(path)
    if root is None:
        raise ConfigError("empty file", file=file)
    top = mapping(root, file=file, field=None)
    if set(top) != {"experiments"}:
        raise ConfigError("the file has one key, 'experiments'", file=file, line=line_of(root), field=None)
    seq = top["experiments"][1]
    if not isinstance(seq, yaml.SequenceNode):
        raise ConfigError("must be a list", file=file, line=line_of(seq), field="experiments")
    out: list[Experiment] = []
    for i, node in enumerate(seq.value):
        exp = experiment_from_node(node, file=file, field=f"experiments[{i}]")
        for other in out:
            if other.code == exp.code or other.salt == exp.salt:
                what = "code" if other.code == exp.code else "salt"
                raise ConfigError(f"{what} already used by experiment {other.code}", file=file,
                                  line=line_of(node), field=f"experiments[{i}].{what}")
        out.append(exp)
    return tuple(out)


# ---------------------------------------------------------------------------------------------
# Attribution: one outcome per account, summed per arm


@dataclass(frozen=True)
class Outcome:
    """What became of one account over the experiment's observation window.

    ``cured``: back to current; ``rolled``: moved to a worse bucket; ``recovered_fen``: amount
    paid (integer fen); ``contacts``: outbound contacts used; ``complaints``: complaints received.
    ``arm`` is filled by :func:`attribute` (or given, and then checked)."""

    account_id: str
    cured: bool
    rolled: bool
    recovered_fen: int
    contacts: int
    complaints: int
    arm: str | None = None

    def __post_init__(self) -> None:
        for name in ("cured", "rolled"):
            if not isinstance(getattr(self, name), bool):
                raise ExperimentError(f"account {self.account_id}: {name} must be true or false")
        for name in ("recovered_fen", "contacts", "complaints"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise ExperimentError(f"account {self.account_id}: {name} must be a whole number, got {value!r}")
            if value < 0:
                raise ExperimentError(f"account {self.account_id}: {name} must be >= 0, got {value}")


def attribute(outcomes: Iterable[Outcome], experiment: Experiment) -> list[Outcome]:
    """Each outcome with its arm (by the stable assignment). An outcome that already names an arm
    must name the one the assignment gives: a mismatch means the treatment did not follow the
    experiment, and is an error rather than something to average over."""
    out: list[Outcome] = []
    seen: set[str] = set()
    for o in outcomes:
        if o.account_id in seen:
            raise ExperimentError(f"account {o.account_id} has more than one outcome")
        seen.add(o.account_id)
        arm = assign(o.account_id, experiment).code
        if o.arm is not None and o.arm != arm:
            raise ExperimentError(f"account {o.account_id} is recorded in arm {o.arm} but is assigned to {arm}")
        out.append(o if o.arm == arm else replace(o, arm=arm))
    return out


@dataclass(frozen=True)
class ArmStats:
    """Sufficient statistics of one arm (integers: exact in any engine)."""

    arm: str
    n: int = 0
    cured: int = 0
    rolled: int = 0
    recovered_fen: int = 0
    recovered_sq: int = 0
    contacts: int = 0
    contacts_sq: int = 0
    complaints: int = 0


def arm_stats(outcomes: Iterable[Outcome], experiment: Experiment) -> dict[str, ArmStats]:
    """Per-arm sums of attributed outcomes; every arm present (zeros when it has no accounts)."""
    sums = {a.code: [0] * 8 for a in experiment.arms}
    for o in attribute(outcomes, experiment):
        s = sums[o.arm]  # type: ignore[index]
        s[0] += 1
        s[1] += o.cured
        s[2] += o.rolled
        s[3] += o.recovered_fen
        s[4] += o.recovered_fen * o.recovered_fen
        s[5] += o.contacts
        s[6] += o.contacts * o.contacts
        s[7] += o.complaints
    return {code: ArmStats(code, *s) for code, s in sums.items()}


def arm_stats_sql(experiment: Experiment, table: str = "outcomes", id_column: str = "account_id",
                  dialect: Dialect = "duckdb") -> str:
    """A query giving :class:`ArmStats` columns per arm from an outcomes table with columns
    ``account_id, cured, rolled, recovered_fen, contacts, complaints`` (booleans or 0/1)."""
    if not _IDENT_RE.fullmatch(table):
        raise ExperimentError(f"table {table!r} must be a plain name")
    arm = assignment_sql(experiment, id_column, dialect)
    big = "DECIMAL(38, 0)"
    return (
        f"SELECT arm, count(*) AS n, "
        f"sum(CASE WHEN cured THEN 1 ELSE 0 END) AS cured, "
        f"sum(CASE WHEN rolled THEN 1 ELSE 0 END) AS rolled, "
        f"sum(CAST(recovered_fen AS {big})) AS recovered_fen, "
        f"sum(CAST(recovered_fen AS {big}) * CAST(recovered_fen AS {big})) AS recovered_sq, "
        f"sum(CAST(contacts AS {big})) AS contacts, "
        f"sum(CAST(contacts AS {big}) * CAST(contacts AS {big})) AS contacts_sq, "
        f"sum(CAST(complaints AS {big})) AS complaints "
        f"FROM (SELECT *, {arm} AS arm FROM {table}) t GROUP BY arm ORDER BY arm"
    )


def arm_stats_from_rows(rows: Iterable[Sequence[object]], experiment: Experiment) -> dict[str, ArmStats]:
    """:class:`ArmStats` from the rows of :func:`arm_stats_sql` (arms without rows get zeros)."""
    out = {a.code: ArmStats(a.code) for a in experiment.arms}
    for row in rows:
        code = str(row[0])
        if code not in out:
            raise ExperimentError(f"the query returned an unknown arm {code!r}")
        out[code] = ArmStats(code, *(int(v or 0) for v in row[1:9]))  # type: ignore[call-overload]
    return out


# ---------------------------------------------------------------------------------------------
# Intervals


def _z(confidence: float) -> float:
    if not 0 < confidence < 1:
        raise ExperimentError(f"confidence must be between 0 and 1, got {confidence}")
    return float(stats.norm.ppf(1 - (1 - confidence) / 2))


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval (no continuity correction) for ``successes`` of ``n``."""
    if n <= 0 or not 0 <= successes <= n:
        raise ExperimentError(f"need 0 <= successes <= n and n > 0, got {successes} of {n}")
    ci = stats.binomtest(successes, n).proportion_ci(confidence_level=confidence, method="wilson")
    return float(ci.low), float(ci.high)


def newcombe_difference(k1: int, n1: int, k2: int, n2: int, confidence: float = 0.95) -> tuple[float, float, float]:
    """``p1 - p2`` with Newcombe's hybrid score interval (1998, method 10): from the Wilson limits
    ``(l1, u1)``, ``(l2, u2)``: ``d - sqrt((p1-l1)² + (u2-p2)²)`` to ``d + sqrt((u1-p1)² + (p2-l2)²)``."""
    p1, p2 = k1 / n1, k2 / n2
    l1, u1 = wilson_interval(k1, n1, confidence)
    l2, u2 = wilson_interval(k2, n2, confidence)
    d = p1 - p2
    return d, d - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2), d + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)


def poisson_interval(count: int, confidence: float = 0.95) -> tuple[float, float]:
    """Exact (Garwood) interval for a Poisson count: chi-square quantiles halved."""
    if count < 0:
        raise ExperimentError(f"count must be >= 0, got {count}")
    alpha = 1 - confidence
    low = 0.0 if count == 0 else float(stats.chi2.ppf(alpha / 2, 2 * count)) / 2
    return low, float(stats.chi2.ppf(1 - alpha / 2, 2 * count + 2)) / 2


# ---------------------------------------------------------------------------------------------
# Read-out


@dataclass(frozen=True)
class Estimate:
    """A point estimate and its interval (``None`` when it cannot be computed, e.g. n < 2)."""

    value: float | Decimal | None
    low: float | Decimal | None = None
    high: float | Decimal | None = None


@dataclass(frozen=True)
class ArmReadout:
    arm: str
    n: int
    cure_rate: Estimate
    roll_rate: Estimate
    recovered_fen: Estimate  # per account, Decimal fen
    contacts: Estimate  # per account, Decimal
    complaints_per_1000: Estimate
    recovered_bootstrap_fen: tuple[Decimal, Decimal] | None = None


@dataclass(frozen=True)
class Difference:
    """Challenger minus champion for one measure. Rates in proportions (0.021 = +2.1 pp)."""

    measure: Literal["cure_rate", "roll_rate", "recovered_fen", "contacts", "complaints_per_1000"]
    challenger: str
    champion: str
    value: float | Decimal
    low: float | Decimal
    high: float | Decimal
    method: str
    verdict: str

    @property
    def clear(self) -> bool:
        """The interval excludes zero."""
        return self.low > 0 or self.high < 0


@dataclass(frozen=True)
class Readout:
    experiment: str
    confidence: float
    champion: str
    arms: tuple[ArmReadout, ...]
    differences: tuple[Difference, ...]

    def arm(self, code: str) -> ArmReadout:
        return next(a for a in self.arms if a.arm == code)

    def verdicts(self) -> list[str]:
        return [d.verdict for d in self.differences]


def _mean(total: int, total_sq: int, n: int, z: Decimal) -> tuple[Estimate, Decimal | None]:
    """Mean of integers from their sum and sum of squares, in Decimal; normal interval; and the
    variance of the mean (for differences)."""
    if n == 0:
        return Estimate(None), None
    mean = Decimal(total) / n
    if n < 2:
        return Estimate(mean), None
    # Sample variance, exact numerator: (n·Σx² − (Σx)²) / (n(n−1)).
    var_of_mean = Decimal(n * total_sq - total * total) / (n * (n - 1)) / n
    half = z * var_of_mean.sqrt()
    return Estimate(mean, mean - half, mean + half), var_of_mean


def _signed(value: float | Decimal, places: int) -> str:
    text = f"{abs(value):,.{places}f}"
    return ("-" if value < 0 and float(text.replace(",", "")) != 0 else "+") + text


_WORDS = {
    "cure_rate": ("cures more", "cures fewer", "cure rate"),
    "roll_rate": ("rolls more", "rolls fewer", "roll rate"),
    "recovered_fen": ("recovers more", "recovers less", "amount recovered per account"),
    "contacts": ("uses more contacts", "uses fewer contacts", "contacts per account"),
    "complaints_per_1000": ("draws more complaints", "draws fewer complaints", "complaints per 1,000 accounts"),
}


def _verdict(measure: str, challenger: str, value, low, high, confidence: float) -> str:  # type: ignore[no-untyped-def]
    if measure in ("cure_rate", "roll_rate"):
        scale, places, unit = 100, 1, " pp"
    elif measure == "recovered_fen":
        scale, places, unit = Decimal("0.01"), 2, " yuan"
    elif measure == "contacts":
        scale, places, unit = 1, 2, " contacts"
    else:
        scale, places, unit = 1, 1, " per 1,000"
    v, lo, hi = (_signed(x * scale, places) for x in (value, low, high))
    more, fewer, name = _WORDS[measure]
    level = f"{confidence * 100:g}% CI"
    figures = f"{v}{unit}, {level} {lo} to {hi}"
    if low > 0:
        return f"challenger {challenger} {more}: {figures}"
    if high < 0:
        return f"challenger {challenger} {fewer}: {figures}"
    return f"challenger {challenger}: no clear difference in {name}: {figures}"


def readout(
    stats_by_arm: dict[str, ArmStats],
    experiment: Experiment,
    *,
    confidence: float = 0.95,
    bootstrap: dict[str, tuple[Decimal, Decimal]] | None = None,
) -> Readout:
    """The read-out from per-arm sums (from :func:`arm_stats` or :func:`arm_stats_sql`)."""
    zf = _z(confidence)
    z = Decimal(repr(zf))
    missing = [a.code for a in experiment.arms if a.code not in stats_by_arm]
    if missing:
        raise ExperimentError(f"no statistics for arm(s) {', '.join(missing)}")
    arms: list[ArmReadout] = []
    var_means: dict[str, tuple[Decimal | None, Decimal | None]] = {}
    for arm in experiment.arms:
        s = stats_by_arm[arm.code]
        if s.n < 0 or not (0 <= s.cured <= s.n and 0 <= s.rolled <= s.n) or min(
                s.recovered_fen, s.recovered_sq, s.contacts, s.contacts_sq, s.complaints) < 0:
            raise ExperimentError(f"arm {arm.code}: inconsistent statistics {s}")
        if s.n == 0:
            arms.append(ArmReadout(arm.code, 0, Estimate(None), Estimate(None), Estimate(None), Estimate(None),
                                   Estimate(None)))
            var_means[arm.code] = (None, None)
            continue
        cure = Estimate(s.cured / s.n, *wilson_interval(s.cured, s.n, confidence))
        roll = Estimate(s.rolled / s.n, *wilson_interval(s.rolled, s.n, confidence))
        recovered, var_rec = _mean(s.recovered_fen, s.recovered_sq, s.n, z)
        contacts, var_con = _mean(s.contacts, s.contacts_sq, s.n, z)
        plo, phi = poisson_interval(s.complaints, confidence)
        complaints = Estimate(1000 * s.complaints / s.n, 1000 * plo / s.n, 1000 * phi / s.n)
        arms.append(ArmReadout(arm.code, s.n, cure, roll, recovered, contacts, complaints,
                               (bootstrap or {}).get(arm.code)))
        var_means[arm.code] = (var_rec, var_con)

    champion = experiment.champion_arm.code
    c = stats_by_arm[champion]
    diffs: list[Difference] = []
    for arm in experiment.challengers:
        t = stats_by_arm[arm.code]
        if t.n == 0 or c.n == 0:
            continue

        def add(measure, value, low, high, method, code=arm.code):  # type: ignore[no-untyped-def]
            diffs.append(Difference(measure, code, champion, value, low, high, method,
                                    _verdict(measure, code, value, low, high, confidence)))

        newcombe = "Newcombe hybrid score (Wilson), method 10"
        add("cure_rate", *newcombe_difference(t.cured, t.n, c.cured, c.n, confidence), newcombe)
        add("roll_rate", *newcombe_difference(t.rolled, t.n, c.rolled, c.n, confidence), newcombe)
        for i, measure in enumerate(("recovered_fen", "contacts")):
            vt, vc = var_means[arm.code][i], var_means[champion][i]
            if vt is None or vc is None:
                continue
            mt = Decimal(t.recovered_fen if i == 0 else t.contacts) / t.n
            mc = Decimal(c.recovered_fen if i == 0 else c.contacts) / c.n
            half = z * (vt + vc).sqrt()
            add(measure, mt - mc, mt - mc - half, mt - mc + half, "difference of means, Welch normal interval")
        rt, rc = t.complaints / t.n, c.complaints / c.n
        half = zf * math.sqrt(t.complaints / t.n**2 + c.complaints / c.n**2)
        add("complaints_per_1000", 1000 * (rt - rc), 1000 * (rt - rc - half), 1000 * (rt - rc + half),
            "difference of Poisson rates, normal interval")
    return Readout(experiment.code, confidence, champion, tuple(arms), tuple(diffs))


def _bootstrap_mean(values: Sequence[int], confidence: float, resamples: int, seed: int) -> tuple[Decimal, Decimal]:
    import numpy as np

    data = np.asarray(values, dtype=np.float64)  # fen, exact in float64 below 2**53
    if len(data) < 2 or np.all(data == data[0]):
        m = Decimal(int(sum(values))) / max(len(values), 1)
        return m, m
    res = stats.bootstrap((data,), np.mean, confidence_level=confidence, n_resamples=resamples,
                          method="percentile", batch=max(1, 2_000_000 // len(data)),
                          rng=np.random.default_rng(seed))
    ci = res.confidence_interval
    return Decimal(repr(float(ci.low))), Decimal(repr(float(ci.high)))


def readout_of_outcomes(
    outcomes: Iterable[Outcome],
    experiment: Experiment,
    *,
    confidence: float = 0.95,
    bootstrap_resamples: int = 0,
    seed: int = 0,
) -> Readout:
    """The read-out from per-account outcomes; with ``bootstrap_resamples`` > 0 also a seeded
    percentile-bootstrap interval of amount recovered per account, per arm, as a check on the
    normal approximation (recovery amounts are skewed: many zeros, a long right tail)."""
    attributed = attribute(outcomes, experiment)
    stats_by_arm = arm_stats(attributed, experiment)
    boot = None
    if bootstrap_resamples > 0:
        boot = {}
        for arm in experiment.arms:
            values = [o.recovered_fen for o in attributed if o.arm == arm.code]
            if values:
                boot[arm.code] = _bootstrap_mean(values, confidence, bootstrap_resamples, seed)
    return readout(stats_by_arm, experiment, confidence=confidence, bootstrap=boot)
