-- The analytics page (zora/store/analytics.py, docs/analytics.md).
--
-- Each conversation keeps when the shopper first wrote and when (and by whom) a person first answered,
-- set by a trigger as messages are stored: the page then reads one row per conversation instead of
-- every message (100,000 conversations: seconds become tens of milliseconds, docs/benchmarks.md). The
-- assistant's messages (author_id 'ai') are not a person's answer. A message deleted later keeps the
-- time it was answered.
ALTER TABLE conversations
    ADD COLUMN first_shopper_at timestamptz,
    ADD COLUMN first_reply_at   timestamptz,
    ADD COLUMN first_reply_by   text;

CREATE FUNCTION zora_note_first_messages() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- The conversation row is already locked by the statement storing the message (it bumps last_seq),
    -- and once set these are never touched again: after the first message this matches no row.
    IF NEW.direction = 'shopper' THEN
        UPDATE conversations SET first_shopper_at = NEW.created_at
         WHERE id = NEW.conversation_id AND first_shopper_at IS NULL;
    ELSIF NEW.author_id IS DISTINCT FROM 'ai' THEN
        UPDATE conversations SET first_reply_at = NEW.created_at, first_reply_by = NEW.author_id
         WHERE id = NEW.conversation_id AND first_reply_at IS NULL;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER messages_note_first AFTER INSERT ON messages
    FOR EACH ROW EXECUTE FUNCTION zora_note_first_messages();

-- Conversations stored before this migration.
UPDATE conversations c
   SET first_shopper_at = f.first_shopper_at, first_reply_at = f.first_reply_at, first_reply_by = f.first_reply_by
  FROM (SELECT conversation_id,
               min(created_at) FILTER (WHERE direction = 'shopper') AS first_shopper_at,
               min(created_at) FILTER (WHERE direction = 'agent' AND author_id IS DISTINCT FROM 'ai') AS first_reply_at,
               (array_agg(author_id ORDER BY seq)
                   FILTER (WHERE direction = 'agent' AND author_id IS DISTINCT FROM 'ai'))[1] AS first_reply_by
          FROM messages GROUP BY conversation_id) f
 WHERE f.conversation_id = c.id;

-- When an agent resolved the conversation (Resolve in Slack): the status alone says it, not when, and
-- closed_at is the idle close's. Set when the status becomes 'resolved'; kept when a resolved
-- conversation is later closed; cleared when it is reopened (by an agent or the shopper writing again).
ALTER TABLE conversations ADD COLUMN resolved_at timestamptz;

CREATE FUNCTION zora_note_resolution() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.status = 'resolved' THEN
        NEW.resolved_at := now();
    ELSIF NEW.status IN ('open', 'assigned') THEN
        NEW.resolved_at := NULL;
    END IF;
    RETURN NEW;
END
$$;

-- Only on a change of status: the per-message updates of the row (last_seq) do not run it.
CREATE TRIGGER conversations_note_resolution BEFORE UPDATE OF status ON conversations
    FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status) EXECUTE FUNCTION zora_note_resolution();

-- Resolved before this migration: the last activity is the best known time.
UPDATE conversations SET resolved_at = updated_at WHERE status = 'resolved';

-- A shop's conversations by when they started; its messages by when they were sent (hours of day,
-- replies per agent), with what those read, so the index answers alone.
CREATE INDEX conversations_shop_created ON conversations (shop_id, created_at);
CREATE INDEX messages_shop_created ON messages (shop_id, created_at) INCLUDE (direction, author_id, author_name);
