"""bench/temporal_floor.py runs, tiny, on a dev server of its own: every kind of workflow is timed and
`--history` prints the event gaps of a step. No timing is asserted (machines are noisy)."""

from __future__ import annotations

import pytest

from bench.temporal_floor import main, parse


async def test_a_tiny_temporal_floor(capsys: pytest.CaptureFixture[str]) -> None:
    await main(parse(["--workflows", "1", "--steps", "2", "--history"]))
    out = capsys.readouterr().out
    for kind in ("activity  per step", "local     per step", "empty     per workflow"):
        assert kind in out
    # A step's history: the activity completes, then the next workflow task is scheduled and started.
    assert out.count("EVENT_TYPE_ACTIVITY_TASK_COMPLETED") == 2
    assert "EVENT_TYPE_WORKFLOW_TASK_STARTED" in out
