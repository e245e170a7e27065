"""The agencies file: the example loads; bad files are refused naming file, line and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from arrears.escalation.config import load_agencies
from arrears.escalation.model import CommissionTier
from arrears.kit.errors import ArrearsError, ConfigError
from tests.escalation.support import EXAMPLE

GOOD = """\
agencies:
  - code: a1
    name: Agency One
    term_days: 60
    commission:
      - {min_dpd: 91, max_dpd: 180, rate_bp: 1500}
      - {min_dpd: 181, rate_bp: 2500}
"""


def _load(tmp_path: Path, text: str):  # type: ignore[no-untyped-def]
    path = tmp_path / "agencies.yaml"
    path.write_text(text, encoding="utf-8")
    return load_agencies(path)


def test_example_file_loads():
    found = load_agencies(EXAMPLE)
    assert list(found.agencies) == ["huaxia", "jinan_recovery"]
    huaxia = found.get("huaxia")
    assert huaxia.term_days == 90
    assert huaxia.tiers == (CommissionTier(91, 180, 1500), CommissionTier(181, 360, 2000), CommissionTier(361, None, 2800))
    assert huaxia.recall.holds == ("dispute", "complaint", "deceased", "bankruptcy", "fraud")
    assert found.get("jinan_recovery").recall.holds == ("dispute", "deceased", "bankruptcy", "fraud")
    with pytest.raises(ArrearsError, match="unknown agency 'nope'"):
        found.get("nope")


def test_defaults_for_recall(tmp_path):
    a = _load(tmp_path, GOOD).get("a1")
    assert a.recall.term_expired and a.recall.paid_in_full
    assert "dispute" in a.recall.holds


@pytest.mark.parametrize(("text", "line", "field", "message"), [
    (GOOD + "    colour: red\n", 8, "agencies[0].colour", "unknown key 'colour'"),
    (GOOD.replace("term_days: 60", "term_days: 0"), 4, "agencies[0].term_days", "must be >= 1"),
    (GOOD.replace("rate_bp: 2500", "rate_bp: 12000"), 7, "agencies[0].commission[1].rate_bp", "at most 10000"),
    (GOOD.replace("min_dpd: 181", "min_dpd: 150"), 7, "agencies[0].commission[1]", "overlaps tier 0"),
    (GOOD.replace("max_dpd: 180", "max_dpd: 80"), 6, "agencies[0].commission[0].max_dpd", "must be >= 91"),
    (GOOD.replace("    name: Agency One\n", ""), 2, "agencies[0].name", "is required"),
    (GOOD.replace("code: a1", "code: A 1"), 2, "agencies[0].code", "lower-case"),
    (GOOD + "    recall: {holds: [dispute, parking]}\n", 8, "agencies[0].recall.holds[1]", "unknown hold kind"),
    (GOOD + "    recall: {term_expired: 1}\n", 8, "agencies[0].recall.term_expired", "true or false"),
    (GOOD + "  - code: a1\n    name: again\n    term_days: 1\n    commission: [{min_dpd: 1, rate_bp: 1}]\n",
     8, "agencies[1].code", "duplicate agency"),
    ("agency: []\n", 1, "agency", "unknown key"),
])
def test_errors_name_file_line_and_field(tmp_path, text, line, field, message):
    with pytest.raises(ConfigError) as caught:
        _load(tmp_path, text)
    err = caught.value
    assert (err.file, err.line, err.field) == (str(tmp_path / "agencies.yaml"), line, field)
    assert message in str(err)
