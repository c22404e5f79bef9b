"""What every benchmark's report shares: the machine and how busy it was, the line naming a run and its
command, tables, and putting a run's block into its section of docs/benchmarks.md."""

from __future__ import annotations

import contextlib
import os
import platform
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
DOC = PROJECT / "docs" / "benchmarks.md"

INTRO = """# Benchmarks

Every figure here is measured on the project's 2-core machine with every service local, and is
read as a **ratio against a floor measured in the same run**: the same workload through a minimal
relay that does no more than the job needs (no Temporal, no database). Absolute numbers are context
only; machines are noisy. Each section names the command that produced it.
"""


def machine() -> dict[str, str]:
    """The machine a run measured: cores, CPU model, memory, Python, kernel."""
    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    mem = ""
    with contextlib.suppress(OSError, ValueError, IndexError):
        kb = int(Path("/proc/meminfo").read_text().splitlines()[0].split()[1])
        mem = f"{kb / 1024 / 1024:.0f} GiB"
    return {
        "nproc": str(os.cpu_count() or "?"),
        "cpu": model or platform.processor() or "?",
        "memory": mem or "?",
        "python": platform.python_version(),
        "os": f"{platform.system()} {platform.release()}",
    }


def machine_text(m: dict[str, str]) -> str:
    return f"nproc {m['nproc']}, {m['cpu']}, {m['memory']}, Python {m['python']}, {m['os']}"


def load_average() -> float:
    """The 1-minute load average: other work on the machine moves every figure, this says how much there was."""
    return round(os.getloadavg()[0], 2)


def load_text(before: float, after: float) -> str:
    return f"Load average (1 min) before/after: {before} / {after}."


def started_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")


def run_line(started: str, command: str, seconds: float) -> str:
    """When a run started, the command that produced it, and how long it took."""
    return f"{started}, `{command}` ({seconds:.0f} s)."


def text_table(header: Sequence[str], rows: list[list[str]]) -> str:
    """Columns padded to their widest cell, for the terminal."""
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    line = "  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))
    out = [line, "-" * len(line)]
    out += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join(out)


def md_table(header: Sequence[str], rows: list[list[str]]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(out)


def write_block(
    block: str,
    *,
    heading: str,
    intro: str,
    markers: tuple[str, str] | None = None,
    before: str | None = None,
    doc: Path = DOC,
) -> None:
    """Put a run's block into the doc's ``## heading`` section.

    A block that starts and ends with ``markers`` replaces the block between the same markers (one
    kind of run keeps one block); otherwise it goes before ``before`` when the doc has it, or at the
    end of the section. A missing section is added at the end of the doc, with its ``intro``.
    """
    block = block.strip("\n")
    text = doc.read_text(encoding="utf-8") if doc.exists() else INTRO
    section = re.search(rf"^## {re.escape(heading)}\n", text, flags=re.MULTILINE)
    if markers is not None and markers[0] in text and markers[1] in text:
        head, _, rest = text.partition(markers[0])
        _, _, tail = rest.partition(markers[1])
        text = head + block + tail
    elif before is not None and before in text:
        head, _, tail = text.partition(before)
        text = head.rstrip("\n") + "\n\n" + block + "\n\n" + before + tail
    elif section is not None:
        head, rest = text[: section.end() - 1], text[section.end() - 1 :]
        body, sep, tail = rest.partition("\n## ")
        text = head + body.rstrip("\n") + "\n\n" + block + "\n" + (sep + tail if sep else "")
    else:
        text = text.rstrip("\n") + f"\n\n## {heading}\n\n{intro.strip()}\n\n{block}\n"
    doc.write_text(text, encoding="utf-8")
