from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from arrears.kit import clock
from arrears.kit.money import format_yuan, round_fen, to_fen, to_yuan


@pytest.mark.parametrize(
    ("yuan", "fen"),
    [("0", 0), ("12.34", 1234), ("0.005", 1), ("0.004", 0), ("-0.005", -1), ("1000", 100_000),
     (Decimal("99.995"), 10_000), (7, 700)],
)
def test_to_fen_rounds_half_up(yuan, fen):
    assert to_fen(yuan) == fen


def test_to_fen_refuses_floats_and_garbage():
    with pytest.raises(TypeError):
        to_fen(0.1)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="not an amount"):
        to_fen("twelve")


@given(st.integers(-(10**15), 10**15))
def test_fen_round_trips_through_yuan(fen):
    assert to_fen(to_yuan(fen)) == fen


def test_round_fen_and_display():
    assert round_fen(Decimal("150.5")) == 151
    assert round_fen(Decimal("-150.5")) == -151
    assert round_fen(Decimal("150.49")) == 150
    assert format_yuan(123_456_789) == "1,234,567.89"
    assert format_yuan(-5) == "-0.05"


def test_the_clock_is_aware_and_can_be_frozen():
    assert clock.utc_now().tzinfo is not None
    beijing = datetime(2026, 3, 1, 20, 0, tzinfo=timezone(timedelta(hours=8)))
    with clock.frozen_at(beijing):
        assert clock.utc_now() == datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
        assert clock.utc_now().tzinfo == UTC
    assert clock.utc_now() != datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    with pytest.raises(ValueError, match="timezone-aware"), clock.frozen_at(datetime(2026, 3, 1)):
        pass
