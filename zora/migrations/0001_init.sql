-- The first schema: shops, the people who chat, conversations, their transcript, and Slack threads.
-- Every row belongs to a shop.

CREATE TABLE shops (
    id              bigserial PRIMARY KEY,
    domain          text NOT NULL UNIQUE CHECK (domain ~ '^[a-z0-9][a-z0-9-]*\.myshopify\.com$'),
    name            text NOT NULL,
    slack_team_id   text,
    slack_channel_id text,
    -- Slack health: NULL when fine, else the last permanent error (e.g. channel_not_found).
    slack_error     text,
    slack_error_at  timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE customers (
    id                  bigserial PRIMARY KEY,
    shop_id             bigint NOT NULL REFERENCES shops(id) ON DELETE CASCADE,
    shopify_customer_id bigint,
    email               text,
    name                text,
    created_at          timestamptz NOT NULL DEFAULT now(),
    UNIQUE (shop_id, shopify_customer_id)
);

CREATE TABLE shoppers (
    id          uuid PRIMARY KEY,
    shop_id     bigint NOT NULL REFERENCES shops(id) ON DELETE CASCADE,
    customer_id bigint REFERENCES customers(id) ON DELETE SET NULL,
    name        text,
    email       text,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE conversations (
    id          uuid PRIMARY KEY,
    shop_id     bigint NOT NULL REFERENCES shops(id) ON DELETE CASCADE,
    shopper_id  uuid NOT NULL REFERENCES shoppers(id) ON DELETE CASCADE,
    status      text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'assigned', 'resolved', 'closed')),
    assignee    text,
    last_seq    integer NOT NULL DEFAULT 0,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    closed_at   timestamptz
);
CREATE INDEX conversations_shop_status ON conversations (shop_id, status);

CREATE TABLE messages (
    id              bigserial PRIMARY KEY,
    shop_id         bigint NOT NULL REFERENCES shops(id) ON DELETE CASCADE,
    conversation_id uuid NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    seq             integer NOT NULL,
    direction       text NOT NULL CHECK (direction IN ('shopper', 'agent')),
    -- The shopper's own id for the message: a retried send is the same row.
    client_id       text,
    author_id       text,
    author_name     text NOT NULL,
    author_avatar   text,
    body            text NOT NULL,
    status          text NOT NULL CHECK (status IN ('stored', 'delivered', 'undelivered')),
    slack_channel   text,
    slack_ts        text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (conversation_id, seq),
    UNIQUE (conversation_id, client_id)
);
-- Slack ts is unique only within a channel; a retried Slack event is the same row.
CREATE UNIQUE INDEX messages_slack_ts ON messages (slack_channel, slack_ts) WHERE slack_ts IS NOT NULL;

CREATE TABLE slack_threads (
    team_id         text NOT NULL,
    channel_id      text NOT NULL,
    thread_ts       text NOT NULL,
    shop_id         bigint NOT NULL REFERENCES shops(id) ON DELETE CASCADE,
    conversation_id uuid NOT NULL UNIQUE REFERENCES conversations(id) ON DELETE CASCADE,
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (team_id, channel_id, thread_ts)
);
