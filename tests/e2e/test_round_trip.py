"""The whole bridge: a python-socketio shopper, the web process, Temporal, PostgreSQL and the Slack stand-in."""

from __future__ import annotations

from tests.harness import AGENT, CHANNEL, Zora


async def test_shopper_message_reaches_slack_and_agent_reply_comes_back(zora: Zora) -> None:
    shopper = await zora.shopper()
    resumed = await shopper.call("resume", {"since_seq": 0})
    assert resumed["ok"] and resumed["messages"] == []

    ack = await shopper.send("Where is my order?", client_id="c-1")
    assert ack == {"ok": True, "client_id": "c-1", "seq": 1}

    # The first message opens a thread whose root names the shopper; the message goes into it.
    root, reply = await zora.standin.wait_for_posts(2)
    assert root["channel"] == CHANNEL and not root.get("thread_ts")
    assert "shopper" in root["text"].lower()
    assert reply["thread_ts"] == root["ts"] and reply["text"] == "Where is my order?"

    await shopper.wait_for(lambda: any(s["status"] == "delivered" for s in shopper.statuses))
    echoed = [m for m in shopper.received if m["client_id"] == "c-1"]
    assert len(echoed) == 1 and echoed[0]["seq"] == 1 and echoed[0]["direction"] == "shopper"

    status = await zora.standin.agent_reply(CHANNEL, root["ts"], "It ships tomorrow.", user=AGENT)
    assert status == 200
    await shopper.wait_for(lambda: len(shopper.agent_messages()) == 1)
    agent = shopper.agent_messages()[0]
    assert agent["body"] == "It ships tomorrow."
    assert agent["author"]["name"] == "Ada Agent"
    assert agent["seq"] == 2

    rows = await zora.fetch(
        "SELECT seq, direction, body, status FROM messages WHERE shop_id = $1 ORDER BY seq", zora.shop_id
    )
    assert [(r["seq"], r["direction"], r["body"], r["status"]) for r in rows] == [
        (1, "shopper", "Where is my order?", "delivered"),
        (2, "agent", "It ships tomorrow.", "stored"),
    ]
