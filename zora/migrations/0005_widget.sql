-- The widget's side: what each shopper's widget has received (delivered) and shown (seen), and the
-- emails that carried replies a shopper missed. Every row belongs to a shop.

-- Watermarks per conversation: agent messages with seq <= delivered_upto reached a widget, those
-- <= seen_upto were on screen, those <= emailed_upto went out in a digest. They only move forward.
CREATE TABLE shopper_receipts (
    conversation_id uuid PRIMARY KEY REFERENCES conversations(id) ON DELETE CASCADE,
    shop_id         bigint NOT NULL REFERENCES shops(id) ON DELETE CASCADE,
    delivered_upto  integer NOT NULL DEFAULT 0 CHECK (delivered_upto >= 0),
    seen_upto       integer NOT NULL DEFAULT 0 CHECK (seen_upto >= 0),
    emailed_upto    integer NOT NULL DEFAULT 0 CHECK (emailed_upto >= 0),
    updated_at      timestamptz NOT NULL DEFAULT now()
);

-- One row per email of missed replies. A range is claimed (status 'sending', emailed_upto moved)
-- in the same transaction, so no later digest can include the same messages; a crash between the
-- claim and the send re-sends exactly that range with the same Message-ID.
CREATE TABLE email_digests (
    id              bigserial PRIMARY KEY,
    shop_id         bigint NOT NULL REFERENCES shops(id) ON DELETE CASCADE,
    conversation_id uuid NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    from_seq        integer NOT NULL,
    to_seq          integer NOT NULL CHECK (to_seq >= from_seq),
    recipient       text NOT NULL,
    message_id      text NOT NULL,
    status          text NOT NULL DEFAULT 'sending' CHECK (status IN ('sending', 'sent')),
    created_at      timestamptz NOT NULL DEFAULT now(),
    sent_at         timestamptz,
    UNIQUE (conversation_id, from_seq),
    UNIQUE (conversation_id, to_seq)
);
CREATE INDEX email_digests_sending ON email_digests (conversation_id) WHERE status = 'sending';
