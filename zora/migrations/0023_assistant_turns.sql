-- The assistant in conversations (issue 12 §2 §6): whether it holds a conversation, and the audit of
-- every turn (tokens, cost, tool calls and results, never shown to the shopper).

-- NULL: the assistant never held it; 'answering' / 'drafting' while it does; 'off' once a person
-- took over (for good, for this conversation). The card shows it.
ALTER TABLE conversations ADD COLUMN assistant text CHECK (assistant IN ('answering', 'drafting', 'off'));
-- The assistant's handover note in the thread (it quotes the shopper): erased with the conversation.
ALTER TABLE conversations ADD COLUMN assistant_note_ts text;

CREATE TABLE assistant_turns (
    -- turn:{conversation}:{seq}, the turn workflow's id.
    id                text PRIMARY KEY,
    shop_id           bigint NOT NULL REFERENCES shops(id) ON DELETE CASCADE,
    conversation_id   uuid NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    seq               integer NOT NULL,
    outcome           text NOT NULL
        CHECK (outcome IN ('answered', 'out_of_steps', 'failed', 'handed_over', 'cancelled')),
    reason            text,
    steps             integer NOT NULL DEFAULT 0,
    prompt_tokens     integer NOT NULL DEFAULT 0,
    completion_tokens integer NOT NULL DEFAULT 0,
    -- In US dollars, from the deployment's prices per million tokens at the time.
    cost_estimate     numeric(14, 6) NOT NULL DEFAULT 0,
    model             text,
    -- The answer as the model wrote it (delivered, or a draft waiting for an agent).
    answer            text,
    -- The Slack message the answer was streamed into (llm_complete), or the draft's post.
    slack_stream_ts   text,
    draft_channel     text,
    draft_ts          text,
    -- The message the answer became, once delivered.
    message_seq       integer,
    started_at        timestamptz NOT NULL,
    ended_at          timestamptz NOT NULL DEFAULT now()
);
-- The daily budget: a shop's turns and tokens since midnight in its time zone.
CREATE INDEX assistant_turns_shop_ended ON assistant_turns (shop_id, ended_at);
CREATE INDEX assistant_turns_conversation ON assistant_turns (conversation_id);

CREATE TABLE assistant_tool_calls (
    turn_id   text NOT NULL REFERENCES assistant_turns(id) ON DELETE CASCADE,
    n         integer NOT NULL,
    step      integer NOT NULL,
    name      text NOT NULL,
    arguments text NOT NULL,
    content   text NOT NULL,
    refused   boolean NOT NULL,
    PRIMARY KEY (turn_id, n)
);
