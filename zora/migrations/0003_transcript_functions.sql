-- Storing a message is one round trip: the shopper's path waits for this commit, nothing else.
-- conversations.updated_at is the time of the last message (idle close reads it).

-- Who is posting a shopper message to Slack right now (the web fast path or the workflow): a lease,
-- so the two never post the same message twice, and a crashed poster's lease simply runs out.
ALTER TABLE messages ADD COLUMN claimed_until timestamptz;

CREATE FUNCTION zora_store_shopper_message(
    p_shop_id bigint, p_conversation uuid, p_shopper uuid, p_client_id text, p_body text, p_author text,
    p_at timestamptz
) RETURNS TABLE (
    o_seq integer, o_created_at timestamptz, o_status text, o_duplicate boolean, o_conversation_created boolean,
    o_reopened boolean
) LANGUAGE plpgsql AS $$
DECLARE
    v_shop bigint;
    v_status text;
    v_seq integer;
    v_created boolean := false;
    v_reopened boolean := false;
    v_rows integer;
BEGIN
    SELECT c.shop_id, c.status INTO v_shop, v_status FROM conversations c WHERE c.id = p_conversation FOR UPDATE;
    IF NOT FOUND THEN
        INSERT INTO shoppers (id, shop_id) VALUES (p_shopper, p_shop_id) ON CONFLICT (id) DO NOTHING;
        INSERT INTO conversations (id, shop_id, shopper_id, updated_at)
            VALUES (p_conversation, p_shop_id, p_shopper, p_at) ON CONFLICT (id) DO NOTHING;
        GET DIAGNOSTICS v_rows = ROW_COUNT;
        v_created := v_rows = 1;
        SELECT c.shop_id, c.status INTO v_shop, v_status FROM conversations c WHERE c.id = p_conversation FOR UPDATE;
    END IF;
    IF v_shop <> p_shop_id THEN
        -- Ids come from tokens Zora signed: this is a bug or tampering, never a cross-shop write.
        RAISE EXCEPTION 'conversation % belongs to another shop', p_conversation USING ERRCODE = 'P0001';
    END IF;

    RETURN QUERY
        SELECT m.seq, m.created_at, m.status, true, false, false
        FROM messages m WHERE m.conversation_id = p_conversation AND m.client_id = p_client_id;
    IF FOUND THEN
        RETURN;
    END IF;

    v_reopened := v_status IN ('resolved', 'closed');
    UPDATE conversations
       SET last_seq = last_seq + 1,
           updated_at = p_at,
           status = CASE WHEN v_reopened THEN 'open' ELSE status END,
           closed_at = CASE WHEN v_reopened THEN NULL ELSE closed_at END
     WHERE id = p_conversation
    RETURNING last_seq INTO v_seq;
    INSERT INTO messages (shop_id, conversation_id, seq, direction, client_id, author_name, body, status, created_at)
        VALUES (p_shop_id, p_conversation, v_seq, 'shopper', p_client_id, p_author, p_body, 'stored', p_at);
    RETURN QUERY SELECT v_seq, p_at, 'stored'::text, false, v_created, v_reopened;
END
$$;

CREATE FUNCTION zora_store_agent_message(
    p_shop_id bigint, p_conversation uuid, p_author_id text, p_author_name text, p_author_avatar text,
    p_body text, p_channel text, p_ts text, p_at timestamptz
) RETURNS TABLE (o_seq integer, o_created_at timestamptz, o_duplicate boolean)
LANGUAGE plpgsql AS $$
DECLARE
    v_shop bigint;
    v_seq integer;
BEGIN
    SELECT c.shop_id INTO v_shop FROM conversations c WHERE c.id = p_conversation FOR UPDATE;
    IF NOT FOUND OR v_shop <> p_shop_id THEN
        RAISE EXCEPTION 'conversation % does not belong to shop %', p_conversation, p_shop_id USING ERRCODE = 'P0001';
    END IF;
    -- Slack retries and repeated events carry the same (channel, ts): stored once.
    RETURN QUERY
        SELECT m.seq, m.created_at, true FROM messages m WHERE m.slack_channel = p_channel AND m.slack_ts = p_ts;
    IF FOUND THEN
        RETURN;
    END IF;
    UPDATE conversations SET last_seq = last_seq + 1, updated_at = p_at WHERE id = p_conversation
    RETURNING last_seq INTO v_seq;
    INSERT INTO messages (shop_id, conversation_id, seq, direction, author_id, author_name, author_avatar, body,
                          status, slack_channel, slack_ts, created_at)
        VALUES (p_shop_id, p_conversation, v_seq, 'agent', p_author_id, p_author_name, p_author_avatar, p_body,
                'stored', p_channel, p_ts, p_at);
    RETURN QUERY SELECT v_seq, p_at, false;
END
$$;
