"""GET /legal/queue?date=…: only an ISO date (YYYY-MM-DD) is a date; anything else is a 422 naming it."""

from __future__ import annotations


def test_the_legal_queue_reads_only_iso_dates(api):
    # pydantic alone reads "0" as a Unix time (1970-01-01) and "1e9" as 2001-09-09
    for value in ("0", "1", "1e9", "20261231", "2026-02-30", "0001-01-01", "9999-12-31", " 2026-12-31"):
        r = api.get("supervisor", "/legal/queue", params={"date": value})
        assert r.status_code == 422, (value, r.text)
        assert "date" in r.text, value
    r = api.get("supervisor", "/legal/queue", params={"date": "2026-12-31"})
    assert r.status_code == 200 and r.json()["business_date"] == "2026-12-31"
