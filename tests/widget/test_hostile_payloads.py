"""Property tests: malformed and hostile payloads on every client → server event of the widget
protocol. Each gets an error ack, nothing is stored, and the server keeps serving everyone."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from tests.harness import Shopper, Zora
from zora.widget_events import AskForPersonEvent, MessageEvent, ProfileEvent, ReceiptEvent, ResumeEvent

MODELS: dict[str, type[BaseModel]] = {
    "resume": ResumeEvent,
    "message": MessageEvent,
    "delivered": ReceiptEvent,
    "seen": ReceiptEvent,
    "profile": ProfileEvent,
    "ask_for_person": AskForPersonEvent,
}

leaves = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40)
    | st.binary(max_size=16)
    | st.sampled_from(["", " ", "\x00", "'; DROP TABLE messages; --", "<script>alert(1)</script>", "a" * 5000])
)
json_like = st.recursive(
    leaves,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)
# The right field names with wrong values, and fields a client must never set.
hostile_fields = st.sampled_from(
    ["since_seq", "client_id", "body", "upto_seq", "name", "email", "conversation_id", "shop", "shopper_id", "seq"]
)
near_miss = st.dictionaries(hostile_fields, json_like, min_size=1, max_size=4)
payloads = json_like | near_miss


def acceptable(event: str, payload: Any) -> bool:
    if event in ("resume", "ask_for_person") and payload is None:
        payload = {}  # a bare `resume` means since_seq 0; a bare `ask_for_person` gives no reason
    try:
        MODELS[event].model_validate(payload)
    except ValidationError:
        return False
    return True


@pytest.fixture(scope="module")
async def attacker(zora: Zora) -> Shopper:
    return await zora.shopper()


async def stored(zora: Zora) -> tuple[int, int, int]:
    rows = await zora.fetch(
        "SELECT (SELECT count(*) FROM messages) AS m, (SELECT count(*) FROM shopper_receipts) AS r,"
        " (SELECT count(*) FROM shoppers WHERE name IS NOT NULL OR email IS NOT NULL) AS p"
    )
    return rows[0]["m"], rows[0]["r"], rows[0]["p"]


@pytest.mark.parametrize("event", sorted(MODELS))
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(payload=payloads)
async def test_hostile_payload_gets_an_error_and_stores_nothing(
    zora: Zora, attacker: Shopper, event: str, payload: Any
) -> None:
    # Receipts of a conversation with no message are refused too, whatever their shape.
    assume(event in ("delivered", "seen") or not acceptable(event, payload))
    before = await stored(zora)
    ack = await attacker.call(event, payload)
    assert ack["ok"] is False
    assert ack["error"]["code"] == "invalid_payload"
    assert isinstance(ack["error"]["message"], str) and ack["error"]["message"]
    assert await stored(zora) == before
    # Still connected and answering.
    assert (await attacker.call("resume", {"since_seq": 0}))["ok"]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(event=st.text(min_size=1, max_size=30).filter(lambda e: e not in {*MODELS, "connect", "disconnect"}))
async def test_unknown_events_get_an_error(zora: Zora, attacker: Shopper, event: str) -> None:
    ack = await attacker.call(event, {"since_seq": 0})
    assert ack["ok"] is False and ack["error"]["code"] == "unknown_event"


async def test_others_are_served_after_the_barrage(zora: Zora, attacker: Shopper) -> None:
    other = await zora.shopper()
    ack = await other.send("a normal question", client_id="after-barrage")
    assert ack["ok"] is True and ack["seq"] == 1
    assert (await attacker.call("resume", {"since_seq": 0}))["ok"]
