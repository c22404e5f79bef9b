"""Automatic assignment's choice of agent (zora/round_robin.py), case by case: plain data, no servers."""

from __future__ import annotations

import pytest

from zora.round_robin import AgentChoice, choose_agent, cursor_after, turn_order

A, B, C = "U0ANA00001", "U0BO000001", "U0CY000001"
ABC = [A, B, C]


@pytest.mark.parametrize(
    ("agents", "cursor", "load", "max_open", "skip", "order"),
    [
        pytest.param(ABC, 0, {}, 5, None, [A, B, C], id="from the start"),
        pytest.param(ABC, 1, {}, 5, None, [B, C, A], id="from the cursor, round the list"),
        pytest.param(ABC, 2, {}, 5, None, [C, A, B], id="the last first"),
        pytest.param(ABC, 3, {}, 5, None, [A, B, C], id="a cursor past the end wraps"),
        pytest.param(ABC, 7, {}, 5, None, [B, C, A], id="a cursor from a longer list wraps"),
        pytest.param(ABC, 0, {B: 5}, 5, None, [A, C], id="the full are left out"),
        pytest.param(ABC, 0, {B: 6, C: 1}, 5, None, [A, C], id="over the cap too"),
        pytest.param(ABC, 0, {B: 4}, 5, None, [A, B, C], id="one below the cap is in"),
        pytest.param(ABC, 0, {A: 1, B: 1, C: 1}, 1, None, [], id="everyone full"),
        pytest.param(ABC, 0, {A: 1}, 1, None, [B, C], id="no conversation is no load"),
        pytest.param(ABC, 0, {"U0GONE0001": 9}, 5, None, [A, B, C], id="load of someone no longer listed"),
        pytest.param(ABC, 0, {}, 5, B, [A, C, B], id="the skipped agent comes last"),
        pytest.param(ABC, 1, {}, 5, B, [C, A, B], id="last even when the turn is theirs"),
        pytest.param(ABC, 2, {}, 5, A, [C, B, A], id="last from anywhere in the turn"),
        pytest.param(ABC, 0, {B: 5}, 5, B, [A, C], id="skipped and full"),
        pytest.param(ABC, 0, {}, 5, "U0GONE0001", [A, B, C], id="skipping someone no longer listed"),
        pytest.param([A], 4, {}, 5, A, [A], id="the only agent, skipped, is still asked"),
        pytest.param([], 3, {}, 5, None, [], id="no agents"),
    ],
)
def test_turn_order(
    agents: list[str], cursor: int, load: dict[str, int], max_open: int, skip: str | None, order: list[str]
) -> None:
    given = list(agents)
    assert turn_order(agents, cursor, load, max_open, skip) == order
    assert agents == given, "the shop's list is left as it was"


@pytest.mark.parametrize(("chosen", "cursor"), [(A, 1), (B, 2), (C, 0)])
def test_the_cursor_moves_past_the_chosen_agent(chosen: str, cursor: int) -> None:
    assert cursor_after(ABC, chosen) == cursor


@pytest.mark.parametrize(
    ("cursor", "load", "skip", "present", "choice", "asked"),
    [
        pytest.param(0, {}, None, {A, B, C}, (A, 1), [A], id="the first in turn, asking no one else"),
        pytest.param(1, {}, None, {A, B, C}, (B, 2), [B], id="the cursor's agent"),
        pytest.param(2, {}, None, {A, B, C}, (C, 0), [C], id="the last agent: the cursor wraps"),
        pytest.param(0, {}, None, {B, C}, (B, 2), [A, B], id="the away are passed over"),
        pytest.param(2, {}, None, {A, B}, (A, 1), [C, A], id="passed over round the end"),
        pytest.param(0, {A: 5}, None, {A, B, C}, (B, 2), [B], id="the full are not even asked"),
        pytest.param(1, {}, B, {A, B, C}, (C, 0), [C], id="the skipped agent waits their turn"),
        pytest.param(1, {}, B, {B}, (B, 2), [C, A, B], id="the skipped agent when nobody else is there"),
        pytest.param(0, {}, None, set(), None, [A, B, C], id="nobody available"),
        pytest.param(0, {A: 5, B: 5, C: 5}, None, {A, B, C}, None, [], id="everyone full"),
    ],
)
async def test_choose_agent(
    cursor: int,
    load: dict[str, int],
    skip: str | None,
    present: set[str],
    choice: tuple[str, int] | None,
    asked: list[str],
) -> None:
    calls: list[str] = []

    async def available(agent: str) -> bool:
        calls.append(agent)
        return agent in present

    got = await choose_agent(ABC, cursor, load, 5, available, skip=skip)
    assert got == (None if choice is None else AgentChoice(user_id=choice[0], cursor=choice[1]))
    assert calls == asked


async def test_no_agents_no_choice() -> None:
    async def available(agent: str) -> bool:
        raise AssertionError("nobody to ask")

    assert await choose_agent([], 0, {}, 5, available) is None
