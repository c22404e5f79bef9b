"""bench/analytics.py works: seeded at a tiny scale into the tests' PostgreSQL, every range is measured
and counts what was seeded (no timing is asserted: the figures are for docs/benchmarks.md)."""

from __future__ import annotations

from bench.analytics import run


async def test_the_analytics_bench_runs_at_a_tiny_scale(database_url: str) -> None:
    rows = await run(database_url, conversations=60, runs=1)
    assert [(r[0], r[4]) for r in rows] == [("whole year (every conversation)", "1"), ("default 30 days", "1")]
    # 60 conversations a little over 6 days apart, back from now: all of them in the year, and 4 or 5 of
    # them in the last 30 local days depending on the time of day.
    assert rows[0][1] == "60" and rows[1][1] in ("4", "5")
