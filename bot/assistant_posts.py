"""What the assistant puts in a conversation's Slack thread (issue 12 §2 §6): its answers, labelled as
the assistant's; its drafts with Send / Discard (draft_only mode); the note when it hands over; and the
card's "assistant answering" line with its Take over button. Everything the model or the shopper wrote
is escaped: it can neither notify anyone nor disguise a link."""

from __future__ import annotations

from typing import Any

from zora.slack_text import escape

ACTION_TAKE_OVER = "zora_ai_take_over"
ACTION_DRAFT_SEND = "zora_ai_draft_send"
ACTION_DRAFT_DISCARD = "zora_ai_draft_discard"
ASSISTANT_ACTIONS = (ACTION_TAKE_OVER, ACTION_DRAFT_SEND, ACTION_DRAFT_DISCARD)

# Room for the model's text in a section block (Slack allows 3,000 characters).
_SECTION_MAX = 2800
_WORDS_MAX = 500

CARD_LINE = {
    "answering": ":robot_face: *Assistant answering.* Reply in the thread or press Take over to answer yourself.",
    "drafting": ":robot_face: *Assistant drafting:* each of its replies waits for an agent's Send.",
}


def answer_text(persona: str, body: str, approved_by: str | None = None) -> str:
    """The assistant's answer as posted in the thread."""
    by = f" (sent by <@{escape(approved_by)}>)" if approved_by else ""
    return f":robot_face: *{escape(persona)}* (AI assistant){by}:\n{escape(body)}"


def draft_blocks(persona: str, body: str, turn_id: str) -> tuple[str, list[dict[str, Any]]]:
    text = f":memo: Draft by {escape(persona)} (AI assistant), waiting for an agent"
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": f"{text}:\n{escape(body, _SECTION_MAX)}"}},
        {
            "type": "actions",
            "elements": [
                _button("Send", ACTION_DRAFT_SEND, turn_id, "primary"),
                _button("Discard", ACTION_DRAFT_DISCARD, turn_id, "danger"),
            ],
        },
    ]
    return text, blocks


def decided_draft(persona: str, body: str, verdict: str) -> tuple[str, list[dict[str, Any]]]:
    """The draft once an agent decided: its text stays, its buttons go."""
    text = f":memo: Draft by {escape(persona)} (AI assistant): {verdict}"
    return text, [{"type": "section", "text": {"type": "mrkdwn", "text": f"{text}\n{escape(body, _SECTION_MAX)}"}}]


def hand_over_note(mention: str, reason: str, shopper_words: str | None) -> str:
    """The assistant hands over: who should look, why, and what the shopper last said."""
    # A model's reason is often a sentence of its own: one full stop, not two.
    why = reason.strip().rstrip(".")
    note = f"{mention} :robot_face: The assistant handed this conversation to you: {escape(why, 300)}."
    if shopper_words:
        note += f"\nThe shopper last wrote: “{escape(shopper_words, _WORDS_MAX)}”"
    return note


def take_over_button(conversation_id: str) -> dict[str, Any]:
    return _button("Take over", ACTION_TAKE_OVER, conversation_id, "danger")


def _button(text: str, action_id: str, value: str, style: str) -> dict[str, Any]:
    return {
        "type": "button",
        "text": {"type": "plain_text", "text": text},
        "action_id": action_id,
        "value": value,
        "style": style,
    }
