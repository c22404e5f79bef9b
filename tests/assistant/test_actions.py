"""Drafted actions (issue 12 §3, §6) end to end: the draft_action tool on a running Zora (real PostgreSQL,
Redis, Temporal) with the Slack and Shopify stand-ins. Approve runs the Shopify mutation once and tells
the shopper; Deny and silence do nothing in Shopify and tell the shopper too; only the shop's agents may
decide, once."""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import WorkflowHistory, WorkflowUpdateFailedError
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import RPCError
from temporalio.worker import Replayer
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from activities.actions import ActionActivities
from tests.harness import AGENT, CHANNEL, Shopper
from tests.helpers import open_conversation
from tests.shopify.harness import ShopifyZora, running_shopify
from workflows.actions import ActionApprovalWorkflow
from zora.assistant import ToolCall, ToolInput
from zora.assistant_actions import ActionOutcome, ActionStep, Decision, action_workflow_id
from zora.shopify.models import ReconcileResult
from zora.slack_api import SlackWorkspaces
from zora.temporal import decide_action

OTHER_AGENT = "U0AGENT002"
OUTSIDER = "U0OUTSIDE1"
OTHER_CHANNEL = "C0OTHERSHP"
OTHER_SHOP_AGENT = "U0OTHERAG1"
ORDERS = 10


class _Unused:
    """The draft tool pushes nothing to shoppers (the workflow's report, in Zora's worker, does)."""

    async def emit(self, event: str, data: dict[str, Any], conversation_id: uuid.UUID | str) -> None:
        raise AssertionError("draft_action pushed to a shopper")


@dataclass
class Setup:
    sz: ShopifyZora
    shopify_customer: int
    orders: list[dict[str, Any]]
    used: int = 0

    def next_order(self) -> dict[str, Any]:
        self.used += 1
        return self.orders[self.used - 1]


@pytest.fixture(scope="module")
async def setup(infra: Any, database_url: str) -> AsyncIterator[Setup]:
    async with running_shopify(infra, database_url) as sz:
        zora = sz.zora
        customer = sz.shopify.add_customer(zora.shop, "Maya", "Lindqvist", "maya@example.com")
        other = sz.shopify.add_customer(zora.shop, "Theo", "Other", "theo@example.com")
        product = sz.shopify.add_product(zora.shop, "Linen shirt", "40.00")
        pid = int(product["id"].rsplit("/", 1)[1])
        orders = [
            sz.shopify.add_order(zora.shop, int(customer["id"].rsplit("/", 1)[1]), [(pid, 1)]) for _ in range(ORDERS)
        ]
        sz.shopify.add_order(zora.shop, int(other["id"].rsplit("/", 1)[1]), [(pid, 2)])
        await sz.install()
        await zora.services.temporal.get_workflow_handle(
            f"shopify:import:{zora.shop}", result_type=ReconcileResult
        ).result()
        await zora.fetch("UPDATE shops SET settings = settings || $2 WHERE id = $1", zora.shop_id,
                         {"assistant": {"enabled": True, "persona_name": "Ada"}})  # fmt: skip
        standin = zora.standin
        for user, name in ((OTHER_AGENT, "bo"), (OUTSIDER, "olga"), (OTHER_SHOP_AGENT, "otto")):
            standin.add_user(user, name, name.title())
        standin.set_channel_members(CHANNEL, [standin.bot_user_id, AGENT, OTHER_AGENT])
        # An agent of another shop served in the same workspace: not this shop's agent.
        standin.add_channel(OTHER_CHANNEL, "other-support")
        standin.set_channel_members(OTHER_CHANNEL, [standin.bot_user_id, OTHER_SHOP_AGENT])
        await zora.fetch(
            "INSERT INTO shops (domain, name, slack_channel_id) VALUES ($1, 'Other', $2)",
            f"other-{uuid.uuid4().hex[:6]}.myshopify.com",
            OTHER_CHANNEL,
        )
        yield Setup(sz, int(customer["id"].rsplit("/", 1)[1]), orders)


def _actions(setup: Setup, timeout: timedelta | None = None) -> ActionActivities:
    zora = setup.sz.zora
    services = zora.services
    workspaces = SlackWorkspaces(services.slack, services.pool, zora.settings)
    return ActionActivities(services.pool, services.temporal, zora.settings, workspaces, _Unused(), None, timeout)


async def _verified_conversation(setup: Setup, customer: int | None = None) -> tuple[Shopper, str, uuid.UUID]:
    zora = setup.sz.zora
    opened = await open_conversation(zora, "I need to change my order")
    await zora.fetch(
        "UPDATE shoppers SET customer_id = (SELECT id FROM customers WHERE shop_id = $1 AND shopify_customer_id = $2)"
        " WHERE id = (SELECT shopper_id FROM conversations WHERE id = $3::uuid)",
        zora.shop_id,
        customer or setup.shopify_customer,
        opened.conversation_id,
    )
    return opened.shopper, opened.root["ts"], uuid.UUID(opened.conversation_id)


def _call(arguments: dict[str, Any], call_id: str | None = None) -> ToolCall:
    return ToolCall(id=call_id or f"call_{uuid.uuid4().hex[:8]}", name="draft_action", arguments=json.dumps(arguments))


async def _draft(setup: Setup, conversation: uuid.UUID, arguments: dict[str, Any], **options: Any) -> dict[str, Any]:
    tool = ToolInput(shop_id=setup.sz.shop_id, conversation_id=conversation, call=_call(arguments))
    output = await _actions(setup, **options).draft_action(tool)
    answer: dict[str, Any] = json.loads(output.content)
    return answer


async def _action_row(setup: Setup, conversation: uuid.UUID) -> Any:
    rows = await setup.sz.zora.fetch(
        "SELECT * FROM assistant_actions WHERE conversation_id = $1 ORDER BY created_at DESC", conversation
    )
    return rows[0]


async def _posted_draft(setup: Setup, root_ts: str, action_id: uuid.UUID) -> dict[str, Any]:
    """The draft's message in the thread, once the workflow posted it."""
    for _ in range(400):
        for message in setup.sz.zora.standin.thread(CHANNEL, root_ts):
            if str(action_id) in json.dumps(message.get("blocks") or []):
                return message
        await asyncio.sleep(0.05)
    raise AssertionError("the draft never appeared in the thread")


async def _outcome(setup: Setup, action_id: uuid.UUID) -> ActionOutcome:
    handle = setup.sz.zora.services.temporal.get_workflow_handle(
        action_workflow_id(action_id), result_type=ActionOutcome
    )
    return await asyncio.wait_for(handle.result(), 60)


def _mutations(setup: Setup, order: dict[str, Any]) -> list[str]:
    """Every mutation Zora sent Shopify about this order, refused ones too (a second cancel is refused by
    Shopify, so counting only applied ones would not see it tried)."""
    sent = [
        name
        for _, names, variables in setup.sz.shopify.requests
        for name in names
        if name in ("orderCancel", "orderUpdate", "tagsAdd") and f'"{order["id"]}"' in json.dumps(variables)
    ]
    oid = int(order["id"].rsplit("/", 1)[1])
    assert [name for name, target, _ in setup.sz.shopify.order_mutations if target == oid] == sent
    return sent


async def _press(setup: Setup, ts: str, action: str, value: str, user: str) -> str | None:
    """Press a button; the ephemeral answer the presser got, if any."""
    standin = setup.sz.zora.standin
    before = len(standin.ephemeral)
    assert await standin.press_button(CHANNEL, ts, action, value, user=user) == 200
    told = [e["text"] for e in standin.ephemeral[before:] if e["user"] == user]
    return told[-1] if told else None


async def test_approve_cancels_the_order_once_and_tells_the_shopper(setup: Setup) -> None:
    shopper, root_ts, conversation = await _verified_conversation(setup)
    order = setup.next_order()
    answer = await _draft(setup, conversation, {"kind": "cancel_order", "order_number": order["name"]})
    assert answer["status"] == "awaiting_approval" and answer["order"] == order["name"]
    row = await _action_row(setup, conversation)
    draft = await _posted_draft(setup, root_ts, row["id"])
    assert _mutations(setup, order) == []  # nothing happens before an agent approves

    # The report's edit of the draft fails once: the report is retried, the mutation is not.
    setup.sz.zora.standin.fail("chat.update", "internal_error")
    assert await _press(setup, draft["ts"], "zora_action_approve", str(row["id"]), AGENT) is None
    outcome = await _outcome(setup, row["id"])
    assert outcome.status == "done" and outcome.decided_by == AGENT
    assert _mutations(setup, order) == ["orderCancel"]
    assert setup.sz.shopify.shops[setup.sz.shop].orders[int(order["id"].rsplit("/", 1)[1])]["cancelledAt"]

    await shopper.wait_for(lambda: any(m["assistant"] for m in shopper.agent_messages()))
    (told,) = [m for m in shopper.agent_messages() if m["assistant"]]
    assert told["author"]["name"] == "Ada" and f"{order['name']} has been cancelled" in told["body"]
    thread = setup.sz.zora.standin.thread(CHANNEL, root_ts)
    (edited,) = [m for m in thread if m["ts"] == draft["ts"]]
    assert f"Approved by <@{AGENT}>" in edited["text"] and "actions" not in json.dumps(edited["blocks"])

    # A later click, and the activity run again, change nothing.
    refusal = await _press(setup, draft["ts"], "zora_action_deny", str(row["id"]), OTHER_AGENT)
    assert refusal is not None and "already approved" in refusal
    again = await _actions(setup).execute(ActionStep(action_id=row["id"], shop_id=setup.sz.shop_id, status="approved"))
    assert again.status == "done" and _mutations(setup, order) == ["orderCancel"]
    stored = await setup.sz.zora.fetch(
        "SELECT author_id, author_name FROM messages WHERE conversation_id = $1 AND author_id = 'ai'", conversation
    )
    assert [tuple(r) for r in stored] == [("ai", "Ada")]

    # Post, wait, update, execute, a retried report: the commands an action issues, replayed.
    handle = setup.sz.zora.services.temporal.get_workflow_handle(action_workflow_id(row["id"]))
    history = await handle.fetch_history()
    assert (await _replayer().replay_workflow(history)).replay_failure is None
    if os.environ.get("ZORA_RECORD_HISTORIES"):
        (HISTORIES / "action-approval-001.json").write_text(history.to_json())


async def test_deny_changes_nothing_in_shopify_and_tells_the_shopper(setup: Setup) -> None:
    shopper, root_ts, conversation = await _verified_conversation(setup)
    order = setup.next_order()
    address = {"address1": "Rua Augusta 1", "city": "Lisboa", "zip": "1100-048", "country_code": "pt"}
    await _draft(setup, conversation, {"kind": "address_change", "order_number": order["name"], "new_address": address})
    row = await _action_row(setup, conversation)
    draft = await _posted_draft(setup, root_ts, row["id"])
    assert "Rua Augusta 1" in json.dumps(draft["blocks"])
    # The shopper's widget speaks German: the outcome is told in German.
    await setup.sz.zora.fetch("UPDATE conversations SET locale = 'de-AT' WHERE id = $1", conversation)
    await _press(setup, draft["ts"], "zora_action_deny", str(row["id"]), OTHER_AGENT)
    outcome = await _outcome(setup, row["id"])
    assert outcome.status == "denied" and outcome.decided_by == OTHER_AGENT
    assert _mutations(setup, order) == []
    await shopper.wait_for(lambda: any(m["assistant"] for m in shopper.agent_messages()))
    assert shopper.agent_messages()[-1]["body"] == (
        f"Unser Team konnte Ihre Anfrage (neue Lieferadresse für die Bestellung {order['name']}) nicht genehmigen."
        " Jemand meldet sich hier bei Ihnen."
    )


async def test_no_answer_in_time_is_a_deny(setup: Setup) -> None:
    shopper, root_ts, conversation = await _verified_conversation(setup)
    order = setup.next_order()
    await _draft(
        setup, conversation, {"kind": "refund_request", "order_number": order["name"], "details": "arrived torn"},
        timeout=timedelta(seconds=1),
    )  # fmt: skip
    row = await _action_row(setup, conversation)
    draft = await _posted_draft(setup, root_ts, row["id"])
    outcome = await _outcome(setup, row["id"])
    assert outcome.status == "expired" and _mutations(setup, order) == []
    await shopper.wait_for(lambda: any(m["assistant"] for m in shopper.agent_messages()))
    assert "not approved in time" in shopper.agent_messages()[-1]["body"]
    refusal = await _press(setup, draft["ts"], "zora_action_approve", str(row["id"]), AGENT)
    assert refusal is not None and "expired" in refusal
    assert _mutations(setup, order) == []


async def test_only_the_shops_agents_may_decide(setup: Setup) -> None:
    _, root_ts, conversation = await _verified_conversation(setup)
    order = setup.next_order()
    await _draft(setup, conversation, {"kind": "refund_request", "order_number": order["name"], "details": "late"})
    row = await _action_row(setup, conversation)
    draft = await _posted_draft(setup, root_ts, row["id"])
    for user in (OUTSIDER, OTHER_SHOP_AGENT):
        refusal = await _press(setup, draft["ts"], "zora_action_approve", str(row["id"]), user)
        assert refusal is not None and "agents may do that" in refusal, refusal
    # The workflow itself refuses a decision said to be another shop's agent's.
    wrong = Decision(user_id=OTHER_SHOP_AGENT, approve=True, shop_id=setup.sz.shop_id + 1000)
    with pytest.raises(WorkflowUpdateFailedError):
        await decide_action(setup.sz.zora.services.temporal, row["id"], wrong)
    assert (await _action_row(setup, conversation))["status"] == "pending"

    # The shop's agent may; a second click is refused by the workflow, whoever makes it.
    await _press(setup, draft["ts"], "zora_action_approve", str(row["id"]), AGENT)
    repeat = Decision(user_id=OTHER_AGENT, approve=False, shop_id=setup.sz.shop_id)
    outcome = await _outcome(setup, row["id"])
    assert outcome.status == "done" and _mutations(setup, order) == ["tagsAdd"]
    order_node = setup.sz.shopify.shops[setup.sz.shop].orders[int(order["id"].rsplit("/", 1)[1])]
    assert "refund-requested" in order_node["tags"]
    # The workflow is over: the update has nowhere to go (the listener then reads the row and says so).
    with pytest.raises(RPCError):
        await decide_action(setup.sz.zora.services.temporal, row["id"], repeat)


async def test_a_second_click_while_it_waits_is_refused(setup: Setup) -> None:
    _, root_ts, conversation = await _verified_conversation(setup)
    order = setup.next_order()
    address = {"address1": "Main St 2", "city": "Porto", "zip": "4000-001", "country_code": "PT"}
    await _draft(setup, conversation, {"kind": "address_change", "order_number": order["name"], "new_address": address})
    row = await _action_row(setup, conversation)
    await _posted_draft(setup, root_ts, row["id"])
    client = setup.sz.zora.services.temporal
    first = await decide_action(client, row["id"], Decision(user_id=AGENT, approve=True, shop_id=setup.sz.shop_id))
    assert first.status == "approved"
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await decide_action(client, row["id"], Decision(user_id=OTHER_AGENT, approve=False, shop_id=setup.sz.shop_id))
    assert f"Already approved by <@{AGENT}>" in str(refused.value.cause)
    assert (await _outcome(setup, row["id"])).status == "done"
    assert _mutations(setup, order) == ["orderUpdate"]
    shipping = setup.sz.shopify.shops[setup.sz.shop].orders[int(order["id"].rsplit("/", 1)[1])]["shippingAddress"]
    assert (shipping["address1"], shipping["countryCode"]) == ("Main St 2", "PT")


async def test_a_draft_needs_the_verified_customers_own_order(setup: Setup) -> None:
    zora = setup.sz.zora
    anonymous = uuid.UUID((await open_conversation(zora, "cancel #1001")).conversation_id)
    assert (
        "not signed in" in (await _draft(setup, anonymous, {"kind": "cancel_order", "order_number": "#1001"}))["error"]
    )
    _, _, conversation = await _verified_conversation(setup)
    # The order after this customer's is the other customer's: whatever the model says, not this shopper's.
    theirs = f"#{1000 + ORDERS + 1}"
    answer = await _draft(setup, conversation, {"kind": "cancel_order", "order_number": theirs})
    assert f"no order {theirs}" in answer["error"]
    bad = await _draft(setup, conversation, {"kind": "address_change", "order_number": "#1001"})
    assert "new_address" in bad["error"]
    bad = await _draft(setup, conversation, {"kind": "refund_request", "order_number": "1001; drop"})
    assert "order number" in bad["error"]
    assert (
        await zora.fetch("SELECT 1 FROM assistant_actions WHERE conversation_id = ANY($1)", [anonymous, conversation])
        == []
    )


async def test_a_retried_tool_call_drafts_once(setup: Setup) -> None:
    _, root_ts, conversation = await _verified_conversation(setup)
    order = setup.next_order()
    call = _call({"kind": "refund_request", "order_number": order["name"], "details": "wrong size"}, "call_same")
    tool = ToolInput(shop_id=setup.sz.shop_id, conversation_id=conversation, call=call)
    for _ in range(2):
        assert json.loads((await _actions(setup).draft_action(tool)).content)["status"] == "awaiting_approval"
    (row,) = await setup.sz.zora.fetch("SELECT id FROM assistant_actions WHERE conversation_id = $1", conversation)
    await _posted_draft(setup, root_ts, row["id"])
    drafts = [m for m in setup.sz.zora.standin.thread(CHANNEL, root_ts) if "zora_action_approve" in json.dumps(m)]
    assert len(drafts) == 1


async def test_shopify_refusing_is_said_to_the_agent_and_the_shopper(setup: Setup) -> None:
    shopper, root_ts, conversation = await _verified_conversation(setup)
    order = setup.next_order()
    await _draft(setup, conversation, {"kind": "cancel_order", "order_number": order["name"]})
    row = await _action_row(setup, conversation)
    draft = await _posted_draft(setup, root_ts, row["id"])
    setup.sz.shopify.revoke_tokens(setup.sz.shop)  # the app was uninstalled meanwhile
    try:
        await _press(setup, draft["ts"], "zora_action_approve", str(row["id"]), AGENT)
        outcome = await _outcome(setup, row["id"])
    finally:
        await setup.sz.install()
    assert outcome.status == "failed" and "401" in outcome.outcome
    assert _mutations(setup, order) == []
    await shopper.wait_for(lambda: any(m["assistant"] for m in shopper.agent_messages()))
    assert "could not carry out your request (cancel order #" in shopper.agent_messages()[-1]["body"]
    (edited,) = [m for m in setup.sz.zora.standin.thread(CHANNEL, root_ts) if m["ts"] == draft["ts"]]
    assert "Shopify refused" in edited["text"]


HISTORIES = Path(__file__).parents[1] / "workflows" / "histories"
RECORDED = sorted(HISTORIES.glob("action-approval-*.json"))


def _replayer() -> Replayer:
    return Replayer(
        workflows=[ActionApprovalWorkflow],
        data_converter=pydantic_data_converter,
        workflow_runner=SandboxedWorkflowRunner(
            restrictions=SandboxRestrictions.default.with_passthrough_modules(
                "zora.assistant", "zora.assistant_actions", "pydantic"
            )
        ),
    )


@pytest.mark.parametrize("path", RECORDED, ids=[p.name for p in RECORDED])
async def test_recorded_actions_replay(path: Path) -> None:
    """Actions wait up to 30 minutes, so deploys meet them in flight: a change that breaks this needs
    workflow.patched. Record with ZORA_RECORD_HISTORIES=1 pytest tests/assistant/test_actions.py -k approve."""
    history = WorkflowHistory.from_json("recorded", path.read_text())
    assert (await _replayer().replay_workflow(history)).replay_failure is None


def test_there_is_a_recorded_action() -> None:
    assert RECORDED, "record one: ZORA_RECORD_HISTORIES=1 pytest tests/assistant/test_actions.py -k approve"
