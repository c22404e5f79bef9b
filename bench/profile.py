"""Sampling the server process with py-spy during a phase, and summarising where the time went.

py-spy runs with ``--gil --nonblocking``: only the thread holding the GIL is sampled, so the samples
are where the process's Python CPU goes (a thread waiting for the GIL, or idle in epoll, is not
counted), and the process is never paused (pausing it at 100 Hz starves its sockets).
"""

from __future__ import annotations

import asyncio
import re
import shutil
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

# Libraries a frame's file path is attributed to, first match wins.
_GROUPS: tuple[tuple[str, str], ...] = (
    ("/temporalio/", "temporalio"),
    ("/socketio/", "python-socketio"),
    ("/engineio/", "python-engineio"),
    ("/slack_bolt/", "slack_bolt"),
    ("/slack_sdk/", "slack_sdk"),
    ("/aiohttp/", "aiohttp"),
    ("/asyncpg/", "asyncpg"),
    ("/redis/", "redis-py"),
    ("/pydantic", "pydantic"),
    ("/google/protobuf/", "protobuf"),
    ("/zora/standins/", "Slack stand-in"),
    ("/bench/", "bench"),
    ("/json/", "json"),
    ("/asyncio/", "asyncio"),
    ("/logging/", "logging"),
    ("/zora/", "zora"),
    ("/widget/", "zora"),
    ("/bot/", "zora"),
    ("/activities/", "zora"),
    ("/workflows/", "zora"),
)

# What a sample was doing, by the outermost frame that names a stage of the relay (first match wins
# when several stages are on one stack, so more specific stages come first).
_STAGES: tuple[tuple[str, str], ...] = (
    ("_WorkflowWorker._handle_activation", "Temporal: workflow activations (sandbox, payload visitors)"),
    ("_RunningWorkflow.activate", "Temporal: workflow activations (sandbox, payload visitors)"),
    ("BoundedVisitorFunctions", "Temporal: workflow activations (sandbox, payload visitors)"),
    ("_CommandAwareDataConverter", "Temporal: workflow activations (sandbox, payload visitors)"),
    ("_WorkflowWorker", "Temporal: workflow worker (polling)"),
    ("ConversationActivities.", "Zora local activities (PostgreSQL, Slack, Redis push)"),
    ("_ActivityWorker", "Temporal: activity worker (local activity plumbing)"),
    ("events_handler.<locals>.handle", "web: Slack Events API (bolt, store, push)"),
    ("FastRelay.", "web: fast-path relay to Slack (zora/app/relay.py, bot/outbound.py)"),
    ("SlackOutbound.", "web: fast-path relay to Slack (zora/app/relay.py, bot/outbound.py)"),
    ("WidgetNamespace.", "web: widget socket events (validation, store)"),
    ("session_handler", "web: POST /widget/session"),
    ("AsyncPubSubManager._thread", "web: socket.io Redis listener (push to shoppers)"),
    ("FloorRelay.", "floor relay"),
    ("SlackStandIn.", "Slack stand-in"),
    ("RecordingStandIn.", "Slack stand-in"),
    ("_handle_api", "Slack stand-in"),
    ("/engineio/", "socket.io / engine.io transport"),
    ("/socketio/", "socket.io / engine.io transport"),
    ("PoolConnectionHolder.release", "asyncpg pool release (connection reset)"),
    ("/temporalio/", "Temporal: other SDK work"),
    ("/aiohttp/", "aiohttp (HTTP server/client I/O)"),
    ("/redis/", "redis-py"),
    ("/asyncpg/", "asyncpg"),
)
_FRAME = re.compile(r"^(?P<func>.*) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")
# Frames every sample passes through; they say nothing about who is busy.
_GENERIC = (
    "/asyncio/",
    "runpy",
    "/bench/relay.py",
    "/bench/relay_phase.py",
    "threading.py",
    "concurrent/futures/",
    "contextlib.py",
)


def available() -> str | None:
    here = Path(sys.executable).parent / "py-spy"
    if here.exists():
        return str(here)
    return shutil.which("py-spy")


@dataclass
class Sampler:
    output: Path
    process: asyncio.subprocess.Process | None = None

    @classmethod
    async def start(cls, pid: int, seconds: float, output: Path, rate: int = 97) -> Sampler | None:
        exe = available()
        if exe is None:
            return None
        output.parent.mkdir(parents=True, exist_ok=True)
        proc = await asyncio.create_subprocess_exec(
            exe,
            "record",
            "--pid",
            str(pid),
            "--duration",
            str(max(1, round(seconds))),
            "--rate",
            str(rate),
            "--format",
            "raw",
            "--gil",
            "--nonblocking",
            "--output",
            str(output),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        return cls(output=output, process=proc)

    async def wait(self, within: float = 30.0) -> bool:
        if self.process is None:
            return False
        try:
            await asyncio.wait_for(self.process.wait(), within)
        except TimeoutError:
            self.process.kill()
            await self.process.wait()
        return self.output.exists()


def _slashed(file: str) -> str:
    # py-spy shortens paths to what follows site-packages/ or the stdlib folder.
    return file if file.startswith("/") else "/" + file


def _group(file: str) -> str:
    file = _slashed(file)
    for needle, name in _GROUPS:
        if needle in file:
            return name
    return "stdlib and other"


def _parse(path: Path) -> list[tuple[list[str], int]]:
    stacks: list[tuple[list[str], int]] = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        stacks.append((stack.split(";"), int(count)))
    return stacks


def _file_of(frame: str) -> str:
    found = _FRAME.match(frame)
    return _slashed(found.group("file")) if found else frame


def _stage(frames: list[str]) -> str:
    for needle, name in _STAGES:
        for frame in frames:
            if needle in (frame if not needle.startswith("/") else _file_of(frame)):
                return name
    return "other (event loop, stdlib)"


@dataclass
class Profile:
    samples: int
    stages: list[tuple[str, float]]
    libraries: list[tuple[str, float]]
    frames: list[tuple[str, float]]

    def text(self) -> str:
        if self.samples == 0:
            return "py-spy recorded no samples"
        lines = [f"{self.samples} samples of the thread holding the GIL", "by stage:"]
        lines += [f"  {share:5.1f}%  {name}" for name, share in self.stages]
        lines.append("self time by library:")
        lines += [f"  {share:5.1f}%  {name}" for name, share in self.libraries]
        lines.append("inclusive time, top frames:")
        lines += [f"  {share:5.1f}%  {name}" for name, share in self.frames]
        return "\n".join(lines)


def summarise(path: Path, top: int = 12) -> Profile:
    stacks = _parse(path)
    total = sum(count for _, count in stacks)
    if total == 0:
        return Profile(0, [], [], [])
    stages: Counter[str] = Counter()
    libraries: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    for frames, count in stacks:
        py_frames = [f for f in frames if not f.startswith(("process ", "thread "))]
        stages[_stage(py_frames)] += count
        if py_frames:
            libraries[_group(_file_of(py_frames[-1]))] += count
        seen: set[str] = set()
        for frame in py_frames:
            file = _file_of(frame)
            if any(g in file for g in _GENERIC) or file.startswith("/<"):
                continue
            name = _short(frame)
            if name not in seen:
                seen.add(name)
                inclusive[name] += count

    def shares(counter: Counter[str], n: int) -> list[tuple[str, float]]:
        return [(name, round(100.0 * c / total, 1)) for name, c in counter.most_common(n)]

    return Profile(total, shares(stages, 20), shares(libraries, top), shares(inclusive, top))


def _short(frame: str) -> str:
    found = _FRAME.match(frame)
    if not found:
        return frame
    file = found.group("file")
    for marker in ("site-packages/", "/main/", "/lib/python3."):
        if marker in file:
            file = file.split(marker, 1)[1]
            break
    return f"{found.group('func')} ({file})"
