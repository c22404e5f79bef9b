"""Every recorded ConversationWorkflow history still replays with today's code.

A failure here means a change would break conversations already running in production: make it
compatible (workflow.patched) instead of editing the recordings. New recordings come from
`python -m tests.workflows.record_histories`."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from workflows.conversation import ConversationWorkflow

HISTORIES = sorted((Path(__file__).parent / "histories").glob("conversation-*.json"))


def test_there_are_recordings() -> None:
    assert HISTORIES, "tests/workflows/histories is empty: record with python -m tests.workflows.record_histories"


@pytest.mark.parametrize("path", HISTORIES, ids=[p.name for p in HISTORIES])
async def test_recorded_history_replays(path: Path) -> None:
    history = WorkflowHistory.from_json("recorded", path.read_text())
    replayer = Replayer(
        workflows=[ConversationWorkflow],
        data_converter=pydantic_data_converter,
        workflow_runner=SandboxedWorkflowRunner(
            # As the worker runs them (zora/app/worker.py): the models pass through the sandbox.
            restrictions=SandboxRestrictions.default.with_passthrough_modules(
                "zora.models", "zora.assistant", "zora.assistant_turns", "pydantic"
            )
        ),
    )
    result = await replayer.replay_workflow(history)
    assert result.replay_failure is None
