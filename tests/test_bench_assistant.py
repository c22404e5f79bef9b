"""The assistant benchmark (bench/assistant.py) runs end to end, tiny, on the test's servers: both
loops answer, Zora's turn takes the same steps as the direct loop, and a first token reaches the
shopper's socket. No timing is asserted (machines are noisy); only that every figure was measured."""

from __future__ import annotations

import math
from typing import Any

from bench.assistant import measure, report, summary
from bench.stack import Infra


async def test_a_tiny_assistant_benchmark(infra: Any, database_url: str) -> None:
    servers = Infra(
        database_url=database_url, redis_url=infra.redis.url, temporal_address=infra.temporal_address, pids={}
    )
    results = await measure(servers, turns=2, runs=2, warmup=0)
    assert len(results) == 2
    for result in results:
        # The policy question: a tool call, then the answer from it.
        assert result.steps == 2
        assert all(math.isfinite(getattr(result, name)) for name in vars(result))
        assert result.direct_ttft_p50_ms > 0 and result.zora_ttft_p50_ms > 0
    figures = summary(results)
    assert (
        figures["overhead_p50_ms"]["min"] <= figures["overhead_p50_ms"]["median"] <= figures["overhead_p50_ms"]["max"]
    )
    text = report(results, ("1.00", "1.00"))
    assert "overhead per step, p50" in text and "first token at the widget socket, Zora, p50" in text
