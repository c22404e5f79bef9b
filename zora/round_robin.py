"""Automatic assignment's choice of agent: round robin over the shop's agents from the shop's cursor,
skipping the full and the away; the agent who just let the conversation go unanswered comes last.

The order and the cursor are pure functions. Whether an agent is available (Slack presence) is a call
per agent, so `choose_agent` takes it as a callback and asks in turn order, stopping at the first agent
who is: a shop with many agents costs one presence call when its next agent is there."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping

from pydantic import BaseModel


class AgentChoice(BaseModel):
    user_id: str
    # The shop's cursor after this choice: the turn starts with the agent after them next time.
    cursor: int


def turn_order(
    agents: list[str], cursor: int, load: Mapping[str, int], max_open: int, skip: str | None = None
) -> list[str]:
    """The agents to ask, in turn: from the cursor round the list, without those who already have
    `max_open` open conversations (`load`: open conversations per agent, absent for none), `skip` last."""
    if not agents:
        return []
    start = cursor % len(agents)
    order = agents[start:] + agents[:start]
    if skip in order:
        order.remove(skip)
        order.append(skip)
    return [agent for agent in order if load.get(agent, 0) < max_open]


def cursor_after(agents: list[str], chosen: str) -> int:
    return (agents.index(chosen) + 1) % len(agents)


async def choose_agent(
    agents: list[str],
    cursor: int,
    load: Mapping[str, int],
    max_open: int,
    available: Callable[[str], Awaitable[bool]],
    skip: str | None = None,
) -> AgentChoice | None:
    """The first agent in turn who is `available`; None when nobody is (the conversation stays open)."""
    for agent in turn_order(agents, cursor, load, max_open, skip):
        if await available(agent):
            return AgentChoice(user_id=agent, cursor=cursor_after(agents, agent))
    return None
