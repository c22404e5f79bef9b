"""The embedded Temporal dev server reads its transfer queue often enough that a workflow's next task does
not wait for the server's default 20 reads a second (up to 50 ms per workflow step, docs/benchmarks.md)."""

from __future__ import annotations

import os

from tests.conftest import Infra
from zora import processes
from zora.embedded import TRANSFER_QUEUE_POLL_RPS, TRANSFER_QUEUE_POLL_RPS_KEY, dev_server_args

SETTING = f"{TRANSFER_QUEUE_POLL_RPS_KEY}={TRANSFER_QUEUE_POLL_RPS}"


async def test_the_tests_dev_server_runs_with_the_transfer_queue_read_rate(infra: Infra) -> None:
    # The server started by embedded_servers (as `zora dev` starts it) is this process's child: its command line
    # says which dynamic config it was given.
    assert infra.temporal is not None
    assert processes.children(os.getpid(), SETTING), "the dev server was started without " + SETTING


def test_the_caller_keeps_its_other_arguments() -> None:
    args = dev_server_args(["--dynamic-config-value", "limit.historyCount.suggestContinueAsNew=50"])
    assert args == [
        "--dynamic-config-value",
        SETTING,
        "--dynamic-config-value",
        "limit.historyCount.suggestContinueAsNew=50",
    ]
    assert dev_server_args(None) == ["--dynamic-config-value", SETTING]


def test_a_callers_own_value_wins() -> None:
    own = ["--log-level", "error", "--dynamic-config-value", f"{TRANSFER_QUEUE_POLL_RPS_KEY}=20"]
    assert dev_server_args(own) == own
