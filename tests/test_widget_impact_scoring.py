"""The Lighthouse-style scoring of bench/widget_impact.py: its curves pass through Lighthouse's control
points, and CLS and TBT are counted the way Lighthouse defines them."""

from __future__ import annotations

import pytest

from bench.widget_impact import CURVES, cls_of, metric_score, performance_score, tbt_of


@pytest.mark.parametrize("profile", sorted(CURVES))
def test_each_curve_scores_its_p10_at_0_9_and_its_median_at_0_5(profile: str) -> None:
    for p10, median in CURVES[profile].values():
        assert metric_score(p10, p10, median) == pytest.approx(0.9)
        assert metric_score(median, p10, median) == pytest.approx(0.5)
        assert metric_score(median * 3, p10, median) < metric_score(median * 2, p10, median) < 0.5
        assert metric_score(0, p10, median) == 1.0


def test_the_score_is_the_weighted_mean_over_the_measured_metrics() -> None:
    perfect = {"fcp": 0.0, "lcp": 0.0, "tbt": 0.0, "cls": 0.0}
    assert performance_score(perfect, "mobile") == pytest.approx(100)
    # LCP at its median (0.5, weight 25 of 90), everything else perfect.
    assert performance_score({**perfect, "lcp": 4000.0}, "mobile") == pytest.approx(100 - 50 * 25 / 90)
    # TBT weighs more than FCP: the same drop in metric score costs more points.
    assert performance_score({**perfect, "tbt": 600.0}, "mobile") < performance_score(
        {**perfect, "fcp": 3000.0}, "mobile"
    )


def test_cls_is_the_largest_session_window() -> None:
    # Less than 1 s apart: one window. A gap over 1 s, or a window past 5 s, starts another.
    assert cls_of([[100, 0.05], [900, 0.05]]) == pytest.approx(0.10)
    assert cls_of([[100, 0.05], [1200, 0.04]]) == pytest.approx(0.05)
    steady = [[t, 0.01] for t in range(0, 7000, 500)]
    assert cls_of(steady) == pytest.approx(0.11)
    assert cls_of([]) == 0


def test_tbt_counts_only_what_long_tasks_after_fcp_block_past_50_ms() -> None:
    assert tbt_of(1000, [[500, 300], [1200, 80], [1500, 50], [2000, 120]]) == pytest.approx(30 + 70)
