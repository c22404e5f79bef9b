"""Garbage-collector pauses in this process (the server side), as a cause of latency spikes."""

from __future__ import annotations

import gc
import time
from dataclasses import dataclass, field
from typing import Any


@dataclass
class GcWatch:
    pauses: list[tuple[int, float]] = field(default_factory=list)  # (generation, seconds)
    _started: float | None = None

    def _callback(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        elif self._started is not None:
            self.pauses.append((int(info.get("generation", -1)), time.perf_counter() - self._started))
            self._started = None

    def __enter__(self) -> GcWatch:
        gc.callbacks.append(self._callback)
        return self

    def __exit__(self, *_exc: object) -> None:
        gc.callbacks.remove(self._callback)

    def summary(self) -> str:
        if not self.pauses:
            return "no collections"
        full = [s for g, s in self.pauses if g == 2]
        longest = max(s for _, s in self.pauses)
        return (
            f"{len(self.pauses)} collections ({len(full)} full), {sum(s for _, s in self.pauses) * 1000:.0f} ms in all,"
            f" longest {longest * 1000:.0f} ms"
        )
