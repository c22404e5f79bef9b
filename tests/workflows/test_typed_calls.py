"""The typed call declarations agree with what runs: workflows with zora/workflow_api.py, activities with
activities/calls.py, and workflow code stays free of I/O libraries (DESIGN.md §3)."""

from __future__ import annotations

import inspect
import subprocess
import sys
import typing
from typing import Any

import pytest
from temporalio import workflow

import activities.calls
import zora.workflow_api
from activities.actions import ActionActivities
from activities.assistant_lookups import LookupTools
from activities.assistant_tools import AssistantToolActivities
from activities.assistant_turns import AssistantTurnActivities
from activities.backfill import ReplyBackfill
from activities.calls import ActivityCall
from activities.conversation import ConversationActivities
from activities.email import EmailActivities
from activities.files import FileActivities
from activities.llm import LlmActivities
from activities.shopify import ShopifyActivities
from activities.suggest import SuggestActivities
from activities.sweep import SweepActivities
from workflows.actions import ActionApprovalWorkflow, SuggestReplyWorkflow
from workflows.conversation import ConversationWorkflow
from workflows.missed_replies import MissedRepliesWorkflow
from workflows.shopify import ShopifyReconcileWorkflow, ShopifyWebhookBatchWorkflow, ShopifyWebhookWorkflow
from workflows.sweeper import SweepWorkflow
from zora.assistant import TOOLS_BY_NAME

IMPLEMENTATIONS = [
    ConversationWorkflow,
    MissedRepliesWorkflow,
    SweepWorkflow,
    ShopifyWebhookWorkflow,
    ShopifyWebhookBatchWorkflow,
    ShopifyReconcileWorkflow,
    ActionApprovalWorkflow,
    SuggestReplyWorkflow,
]
# The classes zora/app/worker.py registers activities from.
ACTIVITY_CLASSES = [
    ConversationActivities,
    SweepActivities,
    EmailActivities,
    FileActivities,
    ShopifyActivities,
    ReplyBackfill,
    LlmActivities,
    AssistantToolActivities,
    ActionActivities,
    SuggestActivities,
    LookupTools,
    AssistantTurnActivities,
]


def _hints(fn: Any) -> dict[str, Any]:
    """Argument and return types, without `self` (declarations type it Any for updates)."""
    hints = typing.get_type_hints(fn)
    hints.pop("self", None)
    return hints


def _handlers(cls: type) -> dict[str, Any]:
    return {
        name: member
        for name, member in vars(cls).items()
        if inspect.isfunction(member)
        and any(
            hasattr(member, attr)
            for attr in (
                "__temporal_workflow_run",
                "__temporal_signal_definition",
                "__temporal_query_definition",
                "_defn",
            )
        )
    }


def test_every_declared_workflow_is_implemented() -> None:
    declared = {
        cls
        for _, cls in inspect.getmembers(zora.workflow_api, inspect.isclass)
        if cls.__module__ == zora.workflow_api.__name__
    }
    assert declared == {base for impl in IMPLEMENTATIONS for base in impl.__bases__}


@pytest.mark.parametrize("impl", IMPLEMENTATIONS, ids=lambda c: c.__name__)
def test_the_implementation_keeps_the_declared_types(impl: type) -> None:
    # mypy checks signal and run overrides; an update is an object to mypy, so its argument types are
    # compared here (Temporal itself only checks that the declared handlers exist, by name).
    (declaration,) = impl.__bases__
    declared = _handlers(declaration)
    assert declared, f"{declaration.__name__} declares nothing"
    for name, fn in declared.items():
        assert _hints(getattr(impl, name)) == _hints(fn), f"{impl.__name__}.{name} differs from its declaration"


# The names Temporal records (workflow types, signals, updates, queries): running workflows and the recorded
# histories use them, so a Python rename keeps them with `name=` (ConversationWorkflow.post_pending is "deliver").
REGISTERED = {
    "ConversationWorkflow": (
        {
            "agent_replied",
            "close",
            "deliver",
            "files_shared",
            "opened",
            "settings_changed",
            "shopper_wrote",
            "ask_for_person",
        },
        {"assign", "release", "reopen", "resolve", "take_over", "decide_draft"},
        {"snapshot"},
    ),
    "OutboundDeliveryWorkflow": ({"pending"}, set(), {"upto_seq"}),
    "SweepWorkflow": (set(), set(), set()),
    "ShopifyWebhookWorkflow": (set(), set(), set()),
    "ShopifyWebhookBatchWorkflow": (set(), set(), set()),
    "ShopifyReconcileWorkflow": (set(), set(), set()),
    "ActionApprovalWorkflow": (set(), {"decide"}, set()),
    "SuggestReplyWorkflow": (set(), set(), set()),
}


def test_the_registered_names_stay() -> None:
    registered = {}
    for impl in IMPLEMENTATIONS:
        defn = workflow._Definition.must_from_class(impl)
        registered[defn.name] = ({n for n in defn.signals if n}, set(defn.updates), set(defn.queries))
    assert registered == REGISTERED


def _calls() -> dict[str, ActivityCall[Any, Any]]:
    return {call.name: call for call in vars(activities.calls).values() if isinstance(call, ActivityCall)}


def _implemented() -> dict[str, Any]:
    found: dict[str, Any] = {}
    for cls in ACTIVITY_CLASSES:
        for member in vars(cls).values():
            defn = getattr(member, "__temporal_activity_definition", None)
            if defn is not None:
                assert defn.name not in found, f"activity {defn.name} implemented twice"
                found[defn.name] = member
    return found


def test_every_activity_call_has_one_implementation_of_its_types() -> None:
    calls, implemented = _calls(), _implemented()
    assert calls.keys() == implemented.keys()
    for name, call in calls.items():
        hints = _hints(implemented[name])
        result = hints.pop("return")
        assert list(hints.values()) == [call.arg_type], name
        assert result is call.result_type, name


def test_every_assistant_tool_has_its_activity_call() -> None:
    assert {activity for _spec, activity in TOOLS_BY_NAME.values()} <= activities.calls.TOOL_CALLS.keys()


def test_workflow_code_imports_no_io_library() -> None:
    code = (
        "import sys, activities.calls, zora.workflow_api, workflows.conversation, workflows.missed_replies,"
        " workflows.sweeper, workflows.shopify, workflows.assistant, workflows.actions;"
        "print(sorted(m for m in ('openai', 'asyncpg', 'aiohttp', 'slack_sdk', 'socketio', 'redis', 'httpx', 'httpx2')"
        " if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "[]", out.stdout
