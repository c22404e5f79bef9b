-- Issue 10 items 2 and 5: shopper tokens that can be revoked, single-use codes in emailed links, and
-- addresses that get mail only once confirmed.

-- Bumped to revoke every token issued before (sign-out, customers/redact); tokens carry it as `ver`.
ALTER TABLE shoppers ADD COLUMN token_version integer NOT NULL DEFAULT 0,
    -- When the shopper proved they read `email` (a confirmation link); NULL: no mail goes to it.
    -- Addresses typed before this migration count as unconfirmed too: nobody ever proved them.
    ADD COLUMN email_confirmed_at timestamptz;

-- Codes sent by email: only their SHA-256 is stored, each is used once, before `expires_at`.
-- `link`: reopens a conversation (the missed-reply email); `confirm`: confirms `email` for the shopper.
CREATE TABLE shopper_codes (
    code_hash       bytea PRIMARY KEY,
    purpose         text NOT NULL CHECK (purpose IN ('link', 'confirm')),
    shop_id         bigint NOT NULL REFERENCES shops(id) ON DELETE CASCADE,
    shopper_id      uuid NOT NULL REFERENCES shoppers(id) ON DELETE CASCADE,
    conversation_id uuid,
    email           text,
    expires_at      timestamptz NOT NULL,
    used_at         timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX shopper_codes_shopper ON shopper_codes (shopper_id);
-- The minute sweep deletes codes a day after they expired (used or not).
CREATE INDEX shopper_codes_expiry ON shopper_codes (expires_at);
