-- Issue 12 §3, §6, §7, §8: actions the assistant drafts for an agent to approve, replies it suggests to
-- agents, and what the assistant did per shop and day.

-- A drafted action (cancel an order, a refund request, an address change) on one of the conversation's
-- verified customer's orders. Its ActionApprovalWorkflow (`action:{id}`) posts it in the thread and waits
-- for Approve / Deny; the row is what Slack buttons, the executor and the shopper's message agree on.
CREATE TABLE assistant_actions (
    id                uuid PRIMARY KEY,
    shop_id           bigint NOT NULL REFERENCES shops(id) ON DELETE CASCADE,
    conversation_id   uuid NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    -- The model's tool call that drafted it: a retried tool activity finds its draft instead of a second one.
    tool_call_id      text NOT NULL,
    kind              text NOT NULL CHECK (kind IN ('cancel_order', 'refund_request', 'address_change')),
    shopify_order_id  bigint NOT NULL,
    order_name        text NOT NULL,
    -- What the shopper asked for, validated: {"details": ...} or {"address": {...}}.
    request           jsonb NOT NULL DEFAULT '{}',
    status            text NOT NULL DEFAULT 'pending'
                      CHECK (status IN ('pending', 'approved', 'denied', 'expired', 'executing', 'done', 'failed')),
    decided_by        text,
    decided_at        timestamptz,
    -- What Shopify answered (done) or why it could not be done (failed), in words for agents and shoppers.
    outcome           text,
    -- The draft's message in the thread (edited with the outcome), once posted.
    slack_channel     text,
    slack_ts          text,
    -- The message that told the shopper the outcome: set in the same transaction that stores it, so a
    -- retried report tells them once.
    told_seq          integer,
    created_at        timestamptz NOT NULL DEFAULT now(),
    UNIQUE (conversation_id, tool_call_id)
);
CREATE INDEX assistant_actions_shop ON assistant_actions (shop_id, created_at);

-- A reply the assistant suggested to one agent (§7): the ephemeral message's Send button names it, and
-- only that agent may send it, once.
CREATE TABLE assistant_suggestions (
    id              uuid PRIMARY KEY,
    shop_id         bigint NOT NULL REFERENCES shops(id) ON DELETE CASCADE,
    conversation_id uuid NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    agent_id        text NOT NULL,
    body            text NOT NULL,
    sent_ts         text,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX assistant_suggestions_created ON assistant_suggestions (created_at);

-- One row per assistant turn's outcome (§8), written by record_turn_outcome (zora/store/assistant_metrics.py)
-- once per turn id however often the writing activity is retried. Per shop and day, involvement,
-- handovers by reason, tokens and cost are sums over it; resolution also reads the conversation's later
-- shopper messages (assumed resolved when the shopper did not come back within 24 h).
CREATE TABLE assistant_turn_outcomes (
    turn_id           text PRIMARY KEY,
    shop_id           bigint NOT NULL REFERENCES shops(id) ON DELETE CASCADE,
    conversation_id   uuid NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    outcome           text NOT NULL CHECK (outcome IN ('answered', 'handed_over', 'out_of_steps', 'failed', 'cancelled')),
    handover_reason   text,
    -- Set when the shopper said the answer solved it (a "did that solve it?" answer), if ever asked.
    confirmed         boolean,
    prompt_tokens     integer NOT NULL DEFAULT 0 CHECK (prompt_tokens >= 0),
    completion_tokens integer NOT NULL DEFAULT 0 CHECK (completion_tokens >= 0),
    cost_usd          numeric(14, 6) NOT NULL DEFAULT 0 CHECK (cost_usd >= 0),
    at                timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX assistant_turn_outcomes_day ON assistant_turn_outcomes (shop_id, at);
CREATE INDEX assistant_turn_outcomes_conversation ON assistant_turn_outcomes (conversation_id, at);
