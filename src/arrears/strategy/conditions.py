"""Strategy conditions: SQL boolean expressions over the feature view, parsed and allow-listed with SQLGlot.

A condition is parsed with the DuckDB dialect and walked node by node. Allowed: the feature-view
columns (:data:`arrears.strategy.features.FEATURES`), literals (numbers, 'text', TRUE, FALSE, NULL),
comparisons (= <> != < <= > >=), AND / OR / NOT, arithmetic (+ - * / // %), IN (list), BETWEEN,
IS [NOT] NULL, LIKE, CASE, and the functions COALESCE, LEAST, GREATEST and ABS. Anything else is
refused — subqueries, other functions, aggregates, window functions, casts, parameters, qualified
names, more than one statement — and so are type mismatches that can be seen without data
(comparing a text column with a number, AND over a number, a condition that is not true/false).

Once accepted, a condition renders to DuckDB SQL (the batch) and to Spark SQL (sqlglot transpile),
and evaluates for one account through the same DuckDB expression over a one-row table, so a rule
gives the same answer on one account as on the whole table. SQL's three-valued logic holds
everywhere: a condition that is NULL (unknown, e.g. ``behaviour_score < 500`` without a score) does
not match.
"""

from __future__ import annotations

import difflib
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import duckdb
import pyarrow as pa
import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError
from sqlglot.tokens import TokenType

from arrears.kit.errors import ArrearsError
from arrears.strategy.features import FEATURE_SCHEMA, FEATURE_TYPES

DIALECT = "duckdb"
FUNCTIONS = ("abs", "coalesce", "greatest", "least")

_COMPARISONS = (exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE)
_ARITHMETIC = (exp.Add, exp.Sub, exp.Mul, exp.Div, exp.IntDiv, exp.Mod)
_NUMERIC = {"integer", "number"}
_FUNC_CLASSES: dict[type[exp.Expression], str] = {
    exp.Abs: "abs", exp.Coalesce: "coalesce", exp.Greatest: "greatest", exp.Least: "least",
}


#: Longest condition accepted (characters): a rule people read, not a generated list.
MAX_CONDITION_LENGTH = 4000
#: Deepest nesting accepted: brackets, NOTs and signs in a row (the parser and the checker recurse
#: per level; 3,000 brackets exhausted Python's stack after 36 s of CPU).
MAX_CONDITION_DEPTH = 32
_NESTING_TOKENS = (TokenType.NOT, TokenType.DASH, TokenType.PLUS, TokenType.TILDE)


class ConditionError(ArrearsError):
    """A condition is refused. ``line`` is the line inside the condition text (1-based) when known."""

    status = 422

    def __init__(self, message: str, *, line: int | None = None) -> None:
        super().__init__(message)
        self.line = line


@dataclass(frozen=True)
class Condition:
    """An accepted condition: its text as written, the parsed expression and the columns it reads."""

    text: str
    expr: exp.Expression
    columns: tuple[str, ...]

    @property
    def duckdb(self) -> str:
        return to_duckdb(self)

    @property
    def spark(self) -> str:
        return to_spark(self)

    def __str__(self) -> str:
        return self.duckdb


def _line(node: exp.Expression) -> int | None:
    for n in (node, *node.find_all(exp.Identifier)):
        meta = n.meta if hasattr(n, "meta") else None
        if meta and "line" in meta:
            return int(meta["line"])
    return None


def _type_name(t: str) -> str:
    return {"number": "a number", "integer": "a number", "text": "text", "boolean": "true/false"}.get(t, t)


def _compatible(a: str, b: str) -> bool:
    if "null" in (a, b):
        return True
    if a in _NUMERIC and b in _NUMERIC:
        return True
    return a == b


def _describe(node: exp.Expression) -> str:
    return node.sql(dialect=DIALECT)


class _Checker:
    def __init__(self, text: str) -> None:
        self.text = text
        self.columns: list[str] = []

    def fail(self, message: str, node: exp.Expression | None = None) -> ConditionError:
        return ConditionError(message, line=_line(node) if node is not None else None)

    def check(self, node: exp.Expression) -> str:
        """The type of ``node`` (integer, number, text, boolean or null), or raise ConditionError."""
        if isinstance(node, exp.Paren):
            return self.check(node.this)
        if isinstance(node, (exp.Subquery, exp.Select, exp.Exists, exp.Union, exp.Query)):
            raise self.fail("subqueries are not allowed: a condition reads one account's features", node)
        if isinstance(node, exp.Window):
            raise self.fail("window functions are not allowed: a condition reads one account's features", node)
        if isinstance(node, exp.AggFunc):
            name = node.sql_name().lower()
            raise self.fail(f"aggregate function {name}() is not allowed: a condition reads one account's "
                            "features", node)
        if isinstance(node, exp.Column):
            return self.column(node)
        if isinstance(node, exp.Literal):
            if node.is_string:
                return "text"
            return "integer" if node.this.lstrip("-").isdigit() else "number"
        if isinstance(node, exp.Boolean):
            return "boolean"
        if isinstance(node, exp.Null):
            return "null"
        if isinstance(node, (exp.And, exp.Or)):
            for side in (node.this, node.expression):
                self.boolean(side, f"{node.key.upper()} needs true/false on both sides")
            return "boolean"
        if isinstance(node, exp.Not):
            self.boolean(node.this, "NOT needs true/false")
            return "boolean"
        if isinstance(node, _COMPARISONS):
            left, right = self.check(node.this), self.check(node.expression)
            self.same(node, left, right, node.this, node.expression)
            return "boolean"
        if isinstance(node, exp.Is):
            self.check(node.this)
            if not isinstance(node.expression, (exp.Null, exp.Boolean)):
                raise self.fail("IS must be followed by NULL, TRUE or FALSE", node)
            return "boolean"
        if isinstance(node, exp.In):
            if node.args.get("query") is not None:
                raise self.fail("subqueries are not allowed: a condition reads one account's features", node)
            if node.args.get("unnest") is not None or node.args.get("field") is not None:
                raise self.fail("IN takes a list of values: IN ('M1', 'M2')", node)
            left = self.check(node.this)
            for item in node.expressions:
                self.same(node, left, self.check(item), node.this, item)
            return "boolean"
        if isinstance(node, exp.Between):
            left = self.check(node.this)
            for bound in (node.args["low"], node.args["high"]):
                self.same(node, left, self.check(bound), node.this, bound)
            return "boolean"
        if isinstance(node, exp.Like):
            for side in (node.this, node.expression):
                t = self.check(side)
                if t not in ("text", "null"):
                    raise self.fail(f"LIKE compares text, but {_describe(side)} is {_type_name(t)}", side)
            return "boolean"
        if isinstance(node, exp.Neg):
            self.numeric(node.this, "unary minus")
            return self.check(node.this)
        if isinstance(node, _ARITHMETIC):
            types = [self.numeric(side, node.key.upper()) for side in (node.this, node.expression)]
            if isinstance(node, exp.Div):
                return "number"
            return "integer" if all(t in ("integer", "null") for t in types) else "number"
        if isinstance(node, exp.Case):
            if node.this is not None:
                raise self.fail("write CASE WHEN <condition> THEN … (the simple CASE x WHEN … form is not allowed)",
                                node)
            results = []
            for branch in node.args.get("ifs") or []:
                self.boolean(branch.this, "CASE WHEN needs a true/false condition")
                results.append((branch.args["true"], self.check(branch.args["true"])))
            if node.args.get("default") is not None:
                results.append((node.args["default"], self.check(node.args["default"])))
            return self.common(node, results, "CASE results")
        if isinstance(node, (exp.Cast, exp.TryCast)):
            raise self.fail("casts are not allowed: every feature already has its type", node)
        if type(node) in _FUNC_CLASSES:
            name = _FUNC_CLASSES[type(node)]
            args = [a for a in (node.this, *node.expressions) if a is not None]
            if name == "abs":
                return self.numeric(node.this, "ABS")
            return self.common(node, [(a, self.check(a)) for a in args], f"{name.upper()} arguments")
        if isinstance(node, exp.Func):
            name = node.name if isinstance(node, exp.Anonymous) else node.sql_name()
            raise self.fail(f"function {name.lower()}() is not allowed (allowed: {', '.join(FUNCTIONS)})", node)
        if isinstance(node, (exp.Placeholder, exp.Parameter)):
            raise self.fail("parameters are not allowed: write the value itself", node)
        if isinstance(node, exp.Star):
            raise self.fail("* is not allowed in a condition", node)
        raise self.fail(f"{_describe(node)!r} is not allowed in a condition ({node.key} expressions are not in the "
                        "condition language)", node)

    def column(self, node: exp.Column) -> str:
        if node.table or node.args.get("db") or node.args.get("catalog"):
            raise self.fail(f"qualified name {_describe(node)} is not allowed: write the feature name alone", node)
        if not isinstance(node.this, exp.Identifier):
            raise self.fail(f"{_describe(node)!r} is not a feature name", node)
        name = node.name
        if name not in FEATURE_TYPES:
            close = difflib.get_close_matches(name.lower(), list(FEATURE_TYPES), n=1, cutoff=0.6)
            hint = f" (did you mean {close[0]!r}?)" if close else " (see the feature view in docs/strategy.md)"
            raise self.fail(f"unknown column {name!r}{hint}", node)
        if name not in self.columns:
            self.columns.append(name)
        return FEATURE_TYPES[name]

    def boolean(self, node: exp.Expression, why: str) -> None:
        t = self.check(node)
        if t not in ("boolean", "null"):
            raise self.fail(f"{why}; {_describe(node)} is {_type_name(t)}", node)

    def numeric(self, node: exp.Expression, op: str) -> str:
        t = self.check(node)
        if t not in (*_NUMERIC, "null"):
            raise self.fail(f"{op} needs numbers; {_describe(node)} is {_type_name(t)}", node)
        return t

    def same(self, node: exp.Expression, left: str, right: str, lnode: exp.Expression, rnode: exp.Expression) -> None:
        if not _compatible(left, right):
            raise self.fail(f"type mismatch: cannot compare {_describe(lnode)} ({_type_name(left)}) with "
                            f"{_describe(rnode)} ({_type_name(right)})", node)

    def common(self, node: exp.Expression, items: list[tuple[exp.Expression, str]], what: str) -> str:
        known = [(n, t) for n, t in items if t != "null"]
        if not known:
            return "null"
        first_node, first = known[0]
        for n, t in known[1:]:
            if not _compatible(first, t):
                raise self.fail(f"type mismatch: {what} mix {_describe(first_node)} ({_type_name(first)}) and "
                                f"{_describe(n)} ({_type_name(t)})", n)
        if all(t in _NUMERIC for _, t in known):
            return "integer" if all(t == "integer" for _, t in known) else "number"
        return first


def _check_nesting(tokens: Sequence[Any]) -> None:
    """Refuse a second statement, and nesting deeper than :data:`MAX_CONDITION_DEPTH`: open brackets,
    plus NOTs and signs in a row (each a level of the parser's recursion)."""
    depth = run = 0
    for token in tokens:
        kind = token.token_type
        if kind == TokenType.SEMICOLON:
            raise ConditionError("only one expression is allowed: ';' separates statements", line=token.line)
        if kind == TokenType.L_PAREN:
            depth += 1
        elif kind == TokenType.R_PAREN:
            depth = max(depth - 1, 0)
        run = run + 1 if kind in _NESTING_TOKENS else 0
        if depth + run > MAX_CONDITION_DEPTH:
            raise ConditionError(f"the condition is nested too deeply: at most {MAX_CONDITION_DEPTH} levels of "
                                 "brackets, NOT and signs", line=token.line)


def parse_condition(text: str) -> Condition:
    """Parse and check one condition; raises :class:`ConditionError` saying what is wrong."""
    if not isinstance(text, str) or not text.strip():
        raise ConditionError("a condition cannot be empty")
    if len(text) > MAX_CONDITION_LENGTH:
        raise ConditionError(f"the condition is too long: {len(text)} characters, at most {MAX_CONDITION_LENGTH}")
    try:
        tokens = sqlglot.tokenize(text, read=DIALECT)
    except TokenError as exc:
        raise ConditionError(f"cannot read the condition: {exc}") from None
    _check_nesting(tokens)
    try:
        statements = [s for s in sqlglot.parse(text, read=DIALECT) if s is not None]
        if len(statements) != 1:  # pragma: no cover - without ';' the parser yields one statement
            raise ConditionError(f"only one expression is allowed, found {len(statements)}")
        expr = statements[0]
        checker = _Checker(text)
        kind = checker.check(expr)
    except ParseError as exc:
        err = exc.errors[0] if exc.errors else {}
        raise ConditionError(f"cannot parse the condition: {err.get('description', exc)}",
                             line=err.get("line")) from None
    except RecursionError:  # a long chain of one operator (dpd + dpd + …) within the length bound
        raise ConditionError("the condition is nested too deeply") from None
    if kind not in ("boolean", "null"):
        raise ConditionError(f"a condition must be true or false, but {_describe(expr)} is {_type_name(kind)}",
                             line=_line(expr))
    return Condition(text=text, expr=expr, columns=tuple(checker.columns))


def to_duckdb(condition: Condition | exp.Expression) -> str:
    expr = condition.expr if isinstance(condition, Condition) else condition
    return expr.sql(dialect="duckdb")


def to_spark(condition: Condition | exp.Expression) -> str:
    expr = condition.expr if isinstance(condition, Condition) else condition
    return sqlglot.transpile(expr.sql(dialect="duckdb"), read="duckdb", write="spark")[0]


def conjuncts(condition: Condition | exp.Expression) -> list[exp.Expression]:
    """The parts of a top-level AND (parentheses removed), in order; the whole expression otherwise."""
    expr = condition.expr if isinstance(condition, Condition) else condition
    while isinstance(expr, exp.Paren):
        expr = expr.this
    if isinstance(expr, exp.And):
        out: list[exp.Expression] = []
        for part in expr.flatten():
            out.extend(conjuncts(part))
        return out
    return [expr]


_local = threading.local()


def _connection() -> duckdb.DuckDBPyConnection:
    """One in-memory DuckDB per thread for one-account evaluation (connecting costs more than the query)."""
    con = getattr(_local, "con", None)
    if con is None:
        con = _local.con = duckdb.connect()
    return con


def feature_row(features: Mapping[str, Any]) -> pa.Table:
    """One account's features as a one-row table of the feature view (every column required)."""
    missing = [f.name for f in FEATURE_SCHEMA if f.name not in features]
    if missing:
        raise ArrearsError(f"features missing: {', '.join(missing)}")
    return pa.Table.from_pylist([{name: features[name] for name in FEATURE_SCHEMA.names}], schema=FEATURE_SCHEMA)


def evaluate_many(expressions: Sequence[Condition | exp.Expression], features: Mapping[str, Any]) -> list[Any]:
    """Each expression's value for one account (True / False / None, or a number or text)."""
    if not expressions:
        return []
    row = feature_row(features)
    select = ", ".join(f"({to_duckdb(e)}) AS v{i}" for i, e in enumerate(expressions))
    con = _connection()
    con.register("features", row)
    try:
        return list(con.execute(f"SELECT {select} FROM features").fetchall()[0])
    finally:
        con.unregister("features")


def evaluate(condition: Condition, features: Mapping[str, Any]) -> bool | None:
    """The condition for one account: True, False, or None when SQL says unknown (which does not match)."""
    value = evaluate_many([condition], features)[0]
    return None if value is None else bool(value)
