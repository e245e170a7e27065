"""Many agents claiming at once: no case is ever held by two of them, no claim is lost."""

from __future__ import annotations

import pytest

from arrears.kit.db import make_engine
from arrears.sim.work_queue import (
    counted_claims,
    create_open_cases,
    create_teams_and_agents,
    overlapping_claims,
    run_agents,
)


@pytest.mark.parametrize(("backend", "agents", "seconds"), [("postgresql", 50, 3.0), ("sqlite", 8, 1.5)])
def test_concurrent_agents_never_share_a_case(request, tmp_path, backend, agents, seconds):
    if backend == "postgresql":
        url = request.getfixturevalue("pg_url")
    else:
        import shutil
        path = tmp_path / "store.sqlite"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        url = f"sqlite:///{path}"
    engine = make_engine(url, pool_size=agents, max_overflow=0)
    try:
        crowd = create_teams_and_agents(engine, teams=2, agents=agents, prefix=f"cc{backend}")
        # fewer cases than agents per team: agents keep colliding on the same best cases
        create_open_cases(engine, cases=agents // 2, team_ids=sorted({a.team_id for a in crowd}))
        run = run_agents(engine, crowd, seconds=seconds)
        assert run.errors == []
        assert run.claim_count > agents  # the run really did work, many times over
        assert overlapping_claims(run.claims) == []
        assert counted_claims(engine) == run.claim_count  # every claim's update survived
    finally:
        if backend == "postgresql":
            from sqlalchemy import text

            from arrears.kit.models import metadata
            names = ", ".join(f'"{t.name}"' for t in metadata.sorted_tables)
            with engine.begin() as conn:
                conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        engine.dispose()
