-- Files in a conversation: images and PDFs a shopper uploads, and copies of files agents share in
-- the Slack thread. Zora keeps its own copy, so the shopper never needs access to Slack.
CREATE TABLE files (
    id              uuid PRIMARY KEY,
    shop_id         bigint NOT NULL REFERENCES shops(id) ON DELETE CASCADE,
    conversation_id uuid NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    -- The message it belongs to; NULL while a shopper's upload waits for the message that sends it.
    message_seq     integer,
    origin          text NOT NULL CHECK (origin IN ('shopper', 'agent')),
    name            text NOT NULL,
    content_type    text NOT NULL,
    size            integer NOT NULL CHECK (size >= 0),
    -- NULL until an agent's file is copied from Slack (pending), or when it could not be (failed).
    data            bytea,
    state           text NOT NULL CHECK (state IN ('pending', 'ready', 'failed')),
    error           text,
    -- An agent's file: where Slack has it. A shopper's file: set once it is uploaded into the thread.
    slack_file_id   text,
    slack_url       text,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX files_of_message ON files (conversation_id, message_seq);
-- One Slack file appears once per message (an agent may share the same file again in a later one).
CREATE UNIQUE INDEX files_agent_slack_id ON files (conversation_id, message_seq, slack_file_id) WHERE origin = 'agent';
