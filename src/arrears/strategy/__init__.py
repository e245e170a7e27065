"""Collection strategies: segments chosen by SQL conditions over the account feature view, and the
timed treatment paths they lead to. See docs/strategy.md."""

from arrears.strategy.conditions import Condition, ConditionError, evaluate, parse_condition, to_duckdb, to_spark
from arrears.strategy.config import load_strategy
from arrears.strategy.engine import explain, select_for_account, select_treatments
from arrears.strategy.features import FEATURES, build_features
from arrears.strategy.model import ACTION_KINDS, Action, Segment, Strategy

__all__ = [
    "ACTION_KINDS", "FEATURES", "Action", "Condition", "ConditionError", "Segment", "Strategy", "build_features",
    "evaluate", "explain", "load_strategy", "parse_condition", "select_for_account", "select_treatments",
    "to_duckdb", "to_spark",
]
