"""Where the machine's CPU went during a phase: per-process CPU seconds read from /proc (Linux only)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


@dataclass(frozen=True)
class _Proc:
    comm: str
    ticks: int
    ppid: int = 0


def snapshot() -> dict[int, _Proc]:
    found: dict[int, _Proc] = {}
    try:
        entries = os.listdir("/proc")
    except OSError:
        return found
    for entry in entries:
        if not entry.isdigit():
            continue
        proc = _read_stat(f"/proc/{entry}/stat")
        if proc is not None:
            found[int(entry)] = proc
    return found


def _read_stat(path: str) -> _Proc | None:
    """A process's or thread's name, CPU ticks (utime + stime) and parent from its stat file; None if unreadable."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            raw = f.read()
    except OSError:
        return None
    # comm is in parentheses and may contain spaces; the fields after it are space separated.
    lpar, rpar = raw.find("("), raw.rfind(")")
    if lpar < 0 or rpar < 0:
        return None
    fields = raw[rpar + 2 :].split()
    try:
        return _Proc(raw[lpar + 1 : rpar], int(fields[11]) + int(fields[12]), int(fields[1]))
    except (IndexError, ValueError):
        return None


def _category(pid: int, procs: Mapping[int, _Proc], roles: Mapping[int, str]) -> str:
    """The role of ``pid`` or of its nearest ancestor that has one; processes of other sessions are "other"."""
    current = pid
    for _ in range(16):
        role = roles.get(current)
        if role is not None:
            if current == pid or role in ("postgres", "redis"):
                return role
            # A child of one of ours without a role of its own: the Temporal dev server, mostly.
            comm = procs[pid].comm.lower()
            return "temporal" if "temporal" in comm else f"{role}: child {comm}"
        parent = procs.get(current)
        if parent is None or parent.ppid <= 1:
            break
        current = parent.ppid
    return "other"


def usage(
    before: dict[int, _Proc], after: dict[int, _Proc], seconds: float, roles: Mapping[int, str]
) -> dict[str, float]:
    """Cores used per category over ``seconds`` (1.0 = one core fully busy).

    ``roles`` names this benchmark's processes (server, load, PostgreSQL's postmaster, Redis); their
    descendants count with them, and everything else on the machine is "other".
    """
    used: dict[str, float] = {}
    for pid, proc in after.items():
        start = before.get(pid)
        delta = proc.ticks - (start.ticks if start is not None and start.comm == proc.comm else 0)
        if delta <= 0:
            continue
        category = _category(pid, after, roles)
        used[category] = used.get(category, 0.0) + delta / _TICKS
    return {k: round(v / seconds, 2) for k, v in sorted(used.items(), key=lambda kv: -kv[1]) if seconds > 0}


def thread_snapshot(pid: int) -> dict[int, _Proc]:
    """CPU ticks of each thread of ``pid`` (thread names: MainThread is the process name)."""
    found: dict[int, _Proc] = {}
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for tid in tids:
        proc = _read_stat(f"/proc/{pid}/task/{tid}/stat")
        if proc is not None:
            found[int(tid)] = proc
    return found


def thread_usage(before: dict[int, _Proc], after: dict[int, _Proc], seconds: float, main_tid: int) -> dict[str, float]:
    """Cores used per kind of thread: the event loop, Python worker threads, native (Rust core) threads."""
    used: dict[str, float] = {}
    for tid, proc in after.items():
        start = before.get(tid)
        delta = proc.ticks - (start.ticks if start is not None else 0)
        if delta <= 0:
            continue
        if tid == main_tid:
            kind = "event loop thread"
        elif proc.comm.startswith(("ThreadPoolExec", "asyncio_", "Thread-")) or "python" in proc.comm:
            kind = "python threads (executors, workflow activations)"
        else:
            kind = f"native threads ({proc.comm.rstrip('0123456789-_')})"
        used[kind] = used.get(kind, 0.0) + delta / _TICKS
    return {k: round(v / seconds, 2) for k, v in sorted(used.items(), key=lambda kv: -kv[1]) if seconds > 0}
