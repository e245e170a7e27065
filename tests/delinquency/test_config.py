"""Rules YAML: the packaged default, and errors that name the file, the line and the field."""

from __future__ import annotations

import textwrap

import pytest

from arrears.delinquency.config import default_rules_path, load_default_rules, load_rules
from arrears.delinquency.model import Bucket, BucketTable, DelinquencyRules
from arrears.kit.errors import ConfigError

HEAD = "tolerance_fen: 500\ngrace_days: 5\ncharge_off_dpd: 150\nbuckets:\n"


def write(tmp_path, text, name="rules.yaml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def test_packaged_file_is_the_default():
    assert load_default_rules() == DelinquencyRules()
    assert BucketTable.load(default_rules_path()) == BucketTable.default()


def test_loads_rules_and_buckets(tmp_path):
    path = write(tmp_path, HEAD + "  - {name: C, min_dpd: 0, max_dpd: 0}\n  - {name: X, min_dpd: 1, max_dpd: null}\n")
    rules = load_rules(path)
    assert (rules.tolerance, rules.grace_days, rules.charge_off_dpd) == (500, 5, 150)
    assert rules.buckets == BucketTable((Bucket("C", 0, 0), Bucket("X", 1, None)))


def test_rule_keys_are_optional(tmp_path):
    path = write(tmp_path, "buckets:\n  - {name: all, min_dpd: 0}\n")
    rules = load_rules(path)
    assert (rules.tolerance, rules.grace_days, rules.charge_off_dpd) == (1000, 3, 180)


BUCKETS_OK = [
    "  - name: M0\n    min_dpd: 0\n    max_dpd: 0\n",
    "  - name: M1\n    min_dpd: 1\n    max_dpd: 30\n",
    "  - name: M2\n    min_dpd: 31\n",
]


@pytest.mark.parametrize(
    ("buckets", "line", "field", "words"),
    [
        # overlap: M1 starts at 0 while M0 covers 0
        ([BUCKETS_OK[0], "  - name: M1\n    min_dpd: 0\n    max_dpd: 30\n", BUCKETS_OK[2]], 9, "buckets[1].min_dpd", "overlaps"),
        # gap: 31..39 in no bucket
        ([BUCKETS_OK[0], BUCKETS_OK[1], "  - name: M2\n    min_dpd: 40\n"], 12, "buckets[2].min_dpd", "gap"),
        # inverted
        ([BUCKETS_OK[0], "  - name: M1\n    min_dpd: 1\n    max_dpd: -5\n"], 10, "buckets[1].max_dpd", "must be >= 0"),
        ([BUCKETS_OK[0], "  - name: M1\n    min_dpd: 30\n    max_dpd: 1\n", BUCKETS_OK[2]], 10, "buckets[1].max_dpd", "inverted"),
        # duplicate name
        ([BUCKETS_OK[0], "  - name: M0\n    min_dpd: 1\n    max_dpd: 30\n", BUCKETS_OK[2]], 8, "buckets[1].name", "duplicate"),
        # no bucket at DPD 0
        (["  - name: M1\n    min_dpd: 1\n    max_dpd: 30\n", BUCKETS_OK[2]], 6, "buckets[0].min_dpd", "DPD 0"),
        # not integers
        ([BUCKETS_OK[0], "  - name: M1\n    min_dpd: 1\n    max_dpd: '30'\n", BUCKETS_OK[2]], 10, "buckets[1].max_dpd", "whole number"),
        ([BUCKETS_OK[0], "  - name: M1\n    min_dpd: 1.5\n    max_dpd: 30\n", BUCKETS_OK[2]], 9, "buckets[1].min_dpd", "whole number"),
        ([BUCKETS_OK[0], "  - name: M1\n    min_dpd: true\n    max_dpd: 30\n", BUCKETS_OK[2]], 9, "buckets[1].min_dpd", "whole number"),
        # closed last bucket leaves high DPD without a bucket
        ([BUCKETS_OK[0], BUCKETS_OK[1]], 10, "buckets[1].max_dpd", "open-ended"),
        # unknown key and missing key
        ([BUCKETS_OK[0], "  - name: M1\n    min_dpd: 1\n    max: 30\n", BUCKETS_OK[2]], 10, "buckets[1].max", "unknown key"),
        ([BUCKETS_OK[0], "  - name: M1\n    max_dpd: 30\n", BUCKETS_OK[2]], 8, "buckets[1].min_dpd", "required"),
    ],
)
def test_bad_bucket_tables_name_file_line_and_field(tmp_path, buckets, line, field, words):
    path = write(tmp_path, HEAD + "".join(buckets))
    with pytest.raises(ConfigError) as info:
        load_rules(path)
    err = info.value
    assert err.file == str(path)
    assert (err.line, err.field) == (line, field)
    assert words in err.detail
    assert str(path) in str(err) and f"line {line}" in str(err) and field in str(err)


@pytest.mark.parametrize(
    ("text", "line", "field"),
    [
        ("tolerance_fen: ten\nbuckets:\n  - {name: M0, min_dpd: 0}\n", 1, "tolerance_fen"),
        ("grace_days: 3\ngrace_day: 4\nbuckets:\n  - {name: M0, min_dpd: 0}\n", 2, "grace_day"),
        ("charge_off_dpd: -1\nbuckets:\n  - {name: M0, min_dpd: 0}\n", 1, "charge_off_dpd"),
        ("tolerance_fen: 1000\n", 1, "buckets"),
        ("buckets: {name: M0}\n", 1, "buckets"),
        ("buckets: []\n", 1, "buckets"),
    ],
)
def test_bad_rules_name_file_line_and_field(tmp_path, text, line, field):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_rules(path)
    assert (info.value.file, info.value.line, info.value.field) == (str(path), line, field)


def test_yaml_syntax_error_names_the_line(tmp_path):
    path = write(tmp_path, "buckets:\n  - {name: M0, min_dpd: 0\n  - oops\n")
    with pytest.raises(ConfigError) as info:
        load_rules(path)
    assert info.value.file == str(path)
    assert info.value.line in (3, 4)
    assert "not valid YAML" in info.value.detail


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError) as info:
        load_rules(tmp_path / "nope.yaml")
    assert "nope.yaml" in str(info.value)
